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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASessionClosedBeforeItStarted_CountsNothing_SoTheActiveCountNeverGoesBelowZero(bool finishRunsBeforeStart)
    {
        // A transport name of this test's own: the meter is process-wide and other tests run in parallel.
        string transport = "test-" + Guid.NewGuid().ToString("N");
        var gate = new object();
        long active = 0, lowest = 0, opened = 0, closed = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Asio2.Rx") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            bool ours = false;
            foreach (var tag in tags) ours |= tag.Key == "asio2rx.transport" && Equals(tag.Value, transport);
            if (!ours) return;
            lock (gate)
            {
                switch (instrument.Name)
                {
                    case "asio2rx.session.count": lowest = Math.Min(lowest, active += value); break;
                    case "asio2rx.session.opened": opened += value; break;
                    case "asio2rx.session.closed": closed += value; break;
                }
            }
        });
        listener.Start();
        var scheduler = new TestScheduler();
        var settings = new SessionOptions { Schedulers = new SchedulerPool(scheduler) }.Resolve(transport);
        Session NewSession() => new StreamSession(new StreamTransport(new MemoryStream([1, 2, 3]), transport), settings, scheduler);

        // A server announces a session, then starts it; a Sessions handler closed this one in between. Its finish
        // runs on the scheduler, before or after the start.
        var early = NewSession();
        early.Abort();
        if (finishRunsBeforeStart) scheduler.Start();
        early.Start();
        scheduler.Start();
        // One that starts, reads to the end of its stream and closes.
        var normal = NewSession();
        normal.Start();
        scheduler.Start();

        Assert.Equal(CloseKind.LocalAbort, early.CloseReason!.Kind);
        Assert.Equal(CloseKind.RemoteClose, normal.CloseReason!.Kind);
        lock (gate)
        {
            Assert.Equal(0, lowest);
            Assert.Equal(0, active);
            Assert.Equal(opened, closed);
            Assert.Equal(finishRunsBeforeStart ? 1 : 2, opened);
        }
    }
}
