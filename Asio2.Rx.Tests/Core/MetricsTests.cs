using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Core;

public class MetricsTests
{
    [Fact]
    public void Meter_CountsSessionsBytesFramesAndCloseReasons()
    {
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Asio2.Rx") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            // Other tests run in parallel: count only this test's transport, tagged "memory", and the reason.
            string? transport = null, detail = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "asio2rx.transport") transport = tag.Value as string;
                if (tag.Key is "asio2rx.close.reason" or "network.io.direction") detail = tag.Value as string;
            }
            if (transport == "memory") totals.AddOrUpdate(instrument.Name + (detail is null ? "" : "/" + detail), value, (_, v) => v + value);
        });
        listener.Start();

        var scheduler = new TestScheduler();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) });
        pair.Start();
        pair.A.Send("one\ntwo\n");
        scheduler.AdvanceBy(1);
        pair.A.Abort();
        scheduler.Start();

        Assert.True(totals.GetValueOrDefault("asio2rx.session.opened") >= 2);
        Assert.True(totals.GetValueOrDefault("asio2rx.io/transmit") >= 8);
        Assert.True(totals.GetValueOrDefault("asio2rx.io/receive") >= 8);
        Assert.True(totals.GetValueOrDefault("asio2rx.frame.received") >= 2);
        Assert.True(totals.GetValueOrDefault("asio2rx.session.closed/LocalAbort") >= 1);
        Assert.True(totals.GetValueOrDefault("asio2rx.session.closed/Reset") >= 1);
    }
}
