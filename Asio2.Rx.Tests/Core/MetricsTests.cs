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
            string? transport = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "transport") transport = tag.Value as string;
                if (tag.Key == "reason") reason = tag.Value as string;
            }
            if (transport == "memory") totals.AddOrUpdate(instrument.Name + (reason is null ? "" : "/" + reason), value, (_, v) => v + value);
        });
        listener.Start();

        var scheduler = new TestScheduler();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) });
        pair.Start();
        pair.A.Send("one\ntwo\n");
        scheduler.AdvanceBy(1);
        pair.A.Abort();
        scheduler.Start();

        Assert.True(totals.GetValueOrDefault("asio2rx.sessions.opened") >= 2);
        Assert.True(totals.GetValueOrDefault("asio2rx.bytes.sent") >= 8);
        Assert.True(totals.GetValueOrDefault("asio2rx.bytes.received") >= 8);
        Assert.True(totals.GetValueOrDefault("asio2rx.frames.received") >= 2);
        Assert.True(totals.GetValueOrDefault("asio2rx.sessions.closed/LocalAbort") >= 1);
        Assert.True(totals.GetValueOrDefault("asio2rx.sessions.closed/Reset") >= 1);
    }
}
