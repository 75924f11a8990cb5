using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.RateLimits;

/// <summary>Rate limits in the session core, over in-memory pairs in virtual time: exact schedules.</summary>
public class SessionRateLimitTests
{
    private static readonly long Ms = TimeSpan.TicksPerMillisecond;

    private static (InMemoryPair Pair, TestScheduler Scheduler) NewPair(Action<SessionOptions>? a = null, Action<SessionOptions>? b = null)
    {
        var scheduler = new TestScheduler();
        var optionsA = new SessionOptions { Schedulers = new SchedulerPool(scheduler) };
        var optionsB = new SessionOptions { Schedulers = new SchedulerPool(scheduler) };
        a?.Invoke(optionsA);
        b?.Invoke(optionsB);
        return (InMemory.CreatePair(optionsA, optionsB), scheduler);
    }

    private static byte[] Pattern(int length, int seed = 0) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + seed)).ToArray();

    /// <summary>Every chunk a session receives, with the tick it was delivered at.</summary>
    private static List<(long Tick, byte[] Bytes)> Record(Session session, TestScheduler scheduler)
    {
        var got = new List<(long, byte[])>();
        session.Frames.Subscribe(f => got.Add((scheduler.Clock, f.Data.ToArray())));
        return got;
    }

    /// <summary>Chunks of <paramref name="step"/> bytes, the first at tick 1 and then one every <paramref name="period"/>
    /// ticks (+1: TestScheduler delivers work scheduled "now" one tick later).</summary>
    private static List<(long Tick, byte[] Bytes)> Steps(byte[] data, int step, long period) =>
        data.Chunk(step).Select((chunk, i) => (i * period + 1, chunk)).ToList();

    private static void AssertChunks(List<(long Tick, byte[] Bytes)> expected, List<(long Tick, byte[] Bytes)> actual)
    {
        Assert.Equal(expected.Select(e => e.Tick), actual.Select(a => a.Tick));
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i].Bytes, actual[i].Bytes);
    }

    [Fact]
    public void WriteLimit_ReleasesOneBurstPerRefill_AtExactTicks()
    {
        var (pair, scheduler) = NewPair(a => a.WriteRateLimit = new RateLimit(1000, 100));
        var got = Record(pair.B, scheduler);
        pair.Start();
        var data = Pattern(1000);

        pair.A.Send(data);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        // 1000 B/s with a burst of 100: 100 bytes at once (the bucket starts full), then 100 every 100 ms.
        AssertChunks(Steps(data, 100, 100 * Ms), got);
        Assert.Equal(1000, pair.A.BytesSent);
    }

    [Fact]
    public void WriteLimit_SendCompletionsAndCountersFollowTheBytesOnTheWire()
    {
        var (pair, scheduler) = NewPair(a => a.WriteRateLimit = new RateLimit(1000, 100));
        pair.Start();
        var sends = Enumerable.Range(0, 5).Select(_ => pair.A.Send(new byte[100]).AsTask()).ToList();
        Assert.Equal(100, pair.A.BytesSent);
        Assert.Equal(400, pair.A.QueuedSendBytes);
        Assert.Equal([true, false, false, false, false], sends.Select(t => t.IsCompleted));

        scheduler.AdvanceTo(200 * Ms);

        Assert.Equal(300, pair.A.BytesSent);
        Assert.Equal(200, pair.A.QueuedSendBytes);
        Assert.Equal([true, true, true, false, false], sends.Select(t => t.IsCompleted));
    }

    [Fact]
    public void WriteLimit_SmallSendsWithinBudget_GoOutAtOnce()
    {
        var (pair, scheduler) = NewPair(a => a.WriteRateLimit = new RateLimit(1000, 100));
        var got = Record(pair.B, scheduler);
        pair.Start();

        for (int i = 0; i < 5; i++)
        {
            scheduler.AdvanceTo(i * 50 * Ms);
            pair.A.Send(new byte[10]); // 10 bytes every 50 ms: 200 B/s, well under the limit
        }
        scheduler.AdvanceTo(TimeSpan.FromSeconds(1).Ticks);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => i * 50 * Ms + 1), got.Select(g => g.Tick));
    }

    [Fact]
    public void ReadLimit_ReadsOneBurstPerRefill_AtExactTicks()
    {
        var (pair, scheduler) = NewPair(b: b => b.ReadRateLimit = new RateLimit(1000, 100));
        var got = Record(pair.B, scheduler);
        pair.Start();
        var data = Pattern(1000, seed: 3);

        pair.A.Send(data);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        AssertChunks(Steps(data, 100, 100 * Ms), got);
        Assert.Equal(1000, pair.B.BytesReceived);
    }

    [Fact]
    public void ReadLimit_PausesReading_SoTheBytesWaitWithTheSenderNotInTheSession()
    {
        // 256 KiB against a 1000 B/s read limit. The in-memory pair's window (64 KiB, like a TCP window) fills, and
        // the rest waits in the sender's queue: flow control, not a buffer growing in the limited session.
        var (pair, scheduler) = NewPair(b: b => b.ReadRateLimit = new RateLimit(1000, 100));
        long delivered = 0;
        pair.B.Frames.Subscribe(f => delivered += f.Length);
        pair.Start();
        var sends = new List<Task>();
        for (int i = 0; i < 32; i++) sends.Add(pair.A.Send(new byte[8192]).AsTask());

        scheduler.AdvanceTo(TimeSpan.FromSeconds(1).Ticks + 1); // reads at 0, 100, ..., 1000 ms; delivered a tick later

        Assert.Equal(100 + 10 * 100, pair.B.BytesReceived); // what the budget allows, not a byte more was read
        Assert.Equal(pair.B.BytesReceived, delivered);
        Assert.Equal(0, pair.B.PendingReceiveBytes);
        Assert.True(pair.A.QueuedSendBytes >= 256 * 1024 - InMemory.WindowBytes - 8192 - 1100,
            $"the sender should hold the backlog; it holds {pair.A.QueuedSendBytes}");
        Assert.False(sends[^1].IsCompleted);
    }

    [Fact]
    public void BothDirections_AreLimitedIndependently()
    {
        var (pair, scheduler) = NewPair(
            a => a.WriteRateLimit = new RateLimit(1000, 100),
            b => b.WriteRateLimit = new RateLimit(500, 50));
        var atB = Record(pair.B, scheduler);
        var atA = Record(pair.A, scheduler);
        pair.Start();
        var fromA = Pattern(1000, 1);
        var fromB = Pattern(1000, 2);

        pair.A.Send(fromA);
        pair.B.Send(fromB);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        AssertChunks(Steps(fromA, 100, 100 * Ms), atB); // A → B at 1000 B/s
        AssertChunks(Steps(fromB, 50, 100 * Ms), atA);  // B → A at 500 B/s
    }

    [Fact]
    public void ReadAndWriteLimitsOfOneSession_AreIndependent()
    {
        var (pair, scheduler) = NewPair(a =>
        {
            a.ReadRateLimit = new RateLimit(500, 50);
            a.WriteRateLimit = new RateLimit(1000, 100);
        });
        var atB = Record(pair.B, scheduler);
        var atA = Record(pair.A, scheduler);
        pair.Start();
        var fromA = Pattern(600, 4);
        var fromB = Pattern(300, 5);

        pair.A.Send(fromA);
        pair.B.Send(fromB);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        AssertChunks(Steps(fromA, 100, 100 * Ms), atB); // A writes at its write limit
        AssertChunks(Steps(fromB, 50, 100 * Ms), atA);  // A reads at its read limit
    }

    [Fact]
    public void FramesLargerThanTheBurst_ArriveWhole_WhenTheirLastByteDoes()
    {
        var (pair, scheduler) = NewPair(
            a => { a.Framing = Framing.Datagram(); a.WriteRateLimit = new RateLimit(1000, 100); },
            b => b.Framing = Framing.Datagram());
        var got = Record(pair.B, scheduler);
        pair.Start();
        var one = Pattern(249, 6);
        var two = Pattern(249, 7);

        pair.A.Send(one);
        pair.A.Send(two);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        // Each frame is 1 header byte + 249 (one batch each). The first batch goes out as 100 at once, 100 at 100 ms,
        // and its last 50 as soon as 50 tokens exist (150 ms); the second as 100 at 250 ms, 100 at 350 ms, 50 at 400 ms.
        // 500 bytes by 400 ms: the initial burst plus exactly 1000 B/s.
        AssertChunks([(150 * Ms + 1, one), (400 * Ms + 1, two)], got);
    }

    [Fact]
    public void GracefulClose_DrainsAtTheLimitedRate()
    {
        var (pair, scheduler) = NewPair(a => a.WriteRateLimit = new RateLimit(1000, 100));
        var got = Record(pair.B, scheduler);
        pair.Start();
        var data = Pattern(500);

        pair.A.Send(data);
        pair.A.Close();
        scheduler.AdvanceTo(TimeSpan.FromSeconds(4).Ticks); // within the 5 s drain timeout

        // The close waited for the queue, and the queue kept to the limit. (The transport close that follows the
        // drain runs on the thread pool, outside virtual time, so it is not asserted here.)
        AssertChunks(Steps(data, 100, 100 * Ms), got);
        Assert.Equal(500, pair.A.BytesSent);
        Assert.Equal(CloseKind.LocalClose, pair.A.CloseReason?.Kind);
    }

    [Fact]
    public async Task Abort_WhileWaitingForBudget_FailsTheWaitingSends_AndStopsWriting()
    {
        var (pair, scheduler) = NewPair(a => a.WriteRateLimit = new RateLimit(1000, 100));
        var got = Record(pair.B, scheduler);
        pair.Start();
        var first = pair.A.Send(new byte[100]).AsTask();
        var second = pair.A.Send(new byte[100]).AsTask();
        scheduler.AdvanceTo(50 * Ms);

        pair.A.Abort();
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        Assert.True(first.IsCompletedSuccessfully);
        var error = await Assert.ThrowsAsync<SessionClosedException>(() => second);
        Assert.Equal(CloseKind.LocalAbort, error.Reason.Kind);
        Assert.Equal(100, got.Sum(g => g.Bytes.Length));
        Assert.Equal(100, pair.A.BytesSent);
    }

    [Fact]
    public void Close_WhileTheReaderWaitsForBudget_EndsTheSession()
    {
        var (pair, scheduler) = NewPair(b: b => b.ReadRateLimit = new RateLimit(1000, 100));
        var closed = scheduler.CreateObserver<CloseKind>();
        pair.B.Closed.Select(r => r.Kind).Subscribe(closed);
        var got = Record(pair.B, scheduler);
        pair.Start();
        pair.A.Send(new byte[1000]);
        scheduler.AdvanceTo(50 * Ms); // B read 100 and waits for budget

        pair.B.Close();
        scheduler.AdvanceTo(TimeSpan.FromSeconds(1).Ticks);

        closed.Messages.AssertEqual(ReactiveTest.OnNext(50 * Ms + 1, CloseKind.LocalClose), ReactiveTest.OnCompleted<CloseKind>(50 * Ms + 1));
        Assert.Equal(100, got.Sum(g => g.Bytes.Length));
    }

    [Fact]
    public void NoLimit_LeavesSessionsUnchanged()
    {
        var (pair, scheduler) = NewPair();
        var got = Record(pair.B, scheduler);
        pair.Start();
        pair.A.Send(new byte[10_000]);
        scheduler.AdvanceTo(1);
        Assert.Equal(10_000, got.Sum(g => g.Bytes.Length));
    }
}
