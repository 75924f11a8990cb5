using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Core;

/// <summary>
/// A handler's sends during a batch go into a region of the send queue that only the delivering thread appends to,
/// without a lock; sends from other threads meanwhile wait behind it. These tests hold a batch open (a handler that
/// runs another thread to completion in its middle) and check order, completions, counters, closes and the bound.
/// </summary>
public class SendsDuringDeliveryTests
{
    private static (InMemoryPair Pair, TestScheduler Scheduler, List<string> AtA) NewPair(Action<SessionOptions>? configureB = null)
    {
        var scheduler = new TestScheduler();
        var a = new SessionOptions { Framing = Framing.Datagram(), Schedulers = new SchedulerPool(scheduler) };
        var b = new SessionOptions { Framing = Framing.Datagram(), Schedulers = new SchedulerPool(scheduler) };
        configureB?.Invoke(b);
        var pair = InMemory.CreatePair(a, b);
        var atA = new List<string>();
        pair.A.Frames.Subscribe(f => atA.Add(f.Text));
        return (pair, scheduler, atA);
    }

    /// <summary>Runs <paramref name="action"/> on a thread of its own, to the end, from inside a handler.</summary>
    private static void OnAnotherThread(Action action)
    {
        var thread = new Thread(() => action());
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void SendsFromAnotherThread_WhileAHandlerSends_GoOutBehindTheHandlersBatch_AndCompleteAfterIt()
    {
        var (pair, scheduler, atA) = NewPair();
        Task? other = null;
        bool otherDoneInsideBatch = true;
        pair.B.Frames.Subscribe(f =>
        {
            f.Session.Send("a1");
            OnAnotherThread(() => other = pair.B.Send("b").AsTask());
            otherDoneInsideBatch = other!.IsCompleted;
            f.Session.Send("a2");
        });
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(["a1", "a2", "b"], atA);
        Assert.False(otherDoneInsideBatch);
        Assert.True(other!.IsCompletedSuccessfully);
        Assert.Equal(3 + 3 + 2, pair.B.BytesSent); // a 1-byte header before each payload
        Assert.Equal(3, pair.B.FramesSent);
        Assert.Equal(0, pair.B.QueuedSendBytes);
    }

    [Fact]
    public void AHandlersSends_AreCountedAsQueuedAtOnce_AndTheirCompletionsFollowTheWrite()
    {
        var (pair, scheduler, atA) = NewPair();
        long queuedInside = -1, framesInside = -1;
        Task? first = null, second = null;
        pair.B.Frames.Subscribe(f =>
        {
            first = f.Session.Send(new byte[10]).AsTask();
            second = f.Session.Send(new byte[20]).AsTask();
            queuedInside = f.Session.QueuedSendBytes;
            framesInside = f.Session.FramesSent;
        });
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(11 + 21, queuedInside);
        Assert.Equal(2, framesInside);
        Assert.True(first!.IsCompletedSuccessfully);
        Assert.True(second!.IsCompletedSuccessfully);
        Assert.Equal(2, atA.Count);
        Assert.Equal(32, pair.B.BytesSent);
    }

    [Fact]
    public void ACloseFromAnotherThread_WhileAHandlerSends_WritesWhatTheHandlerSentFirst_AndRefusesTheRest()
    {
        var (pair, scheduler, atA) = NewPair();
        bool laterRejected = false;
        pair.B.Frames.Subscribe(f =>
        {
            f.Session.Send("x");
            OnAnotherThread(() => pair.B.Close());
            laterRejected = f.Session.Send("y").IsRejected;
        });
        var closedA = new List<CloseKind>();
        pair.A.Closed.Subscribe(r => closedA.Add(r.Kind));
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(["x"], atA);
        Assert.True(laterRejected);
        Assert.Equal([CloseKind.RemoteClose], closedA);
        Assert.Equal(CloseKind.LocalClose, pair.B.CloseReason!.Kind);
    }

    [Fact]
    public void ACloseFromAnotherThread_WhileAHandlersBatchHoldsNothing_ClosesAtTheBatchsEnd_NotAtTheDrainTimeout()
    {
        var (pair, scheduler, atA) = NewPair(b =>
        {
            b.MaxSendQueueBytes = 10;
            b.SendQueueFullPolicy = SendQueueFullPolicy.Reject;
        });
        bool rejected = false;
        pair.B.Frames.Subscribe(f =>
        {
            rejected = f.Session.Send(new byte[20]).IsRejected; // opens the batch, queues nothing
            OnAnotherThread(() => pair.B.Close());
            _ = f.Session.SendAsync(new byte[1]); // closes the batch before the batch's end does
        });
        var closedA = new List<(CloseKind Kind, long At)>();
        pair.A.Closed.Subscribe(r => closedA.Add((r.Kind, scheduler.Clock)));
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.True(rejected);
        Assert.Empty(atA);
        var (kind, at) = Assert.Single(closedA);
        Assert.Equal(CloseKind.RemoteClose, kind);
        Assert.True(at < new SessionOptions().DrainTimeout.Ticks, $"closed at {at} ticks");
    }

    [Fact]
    public void AHandlerThatSendsThenCloses_GetsItsRepliesOutBeforeTheClose()
    {
        var (pair, scheduler, atA) = NewPair();
        pair.B.Frames.Subscribe(f =>
        {
            f.Session.Send("r1");
            f.Session.Send("r2");
            f.Session.Close();
        });
        var closedA = new List<CloseKind>();
        pair.A.Closed.Subscribe(r => closedA.Add(r.Kind));
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(["r1", "r2"], atA);
        Assert.Equal([CloseKind.RemoteClose], closedA);
    }

    [Fact]
    public void AStreamedSendFromAHandler_StaysBetweenTheSendsBeforeAndAfterIt()
    {
        var (pair, scheduler, atA) = NewPair();
        pair.B.Frames.Subscribe(f =>
        {
            f.Session.Send("1");
            _ = f.Session.SendAsync(Encoding.UTF8.GetBytes("2"));
            _ = f.Session.SendAsync(new MemoryStream(Encoding.UTF8.GetBytes("3")));
            f.Session.Send("4");
        });
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(["1", "2", "3", "4"], atA);
    }

    [Fact]
    public void AHandlersSendsPastTheBound_AreRejected_WithTheRejectPolicy()
    {
        var (pair, scheduler, atA) = NewPair(b =>
        {
            b.MaxSendQueueBytes = 100;
            b.SendQueueFullPolicy = SendQueueFullPolicy.Reject;
        });
        var rejected = new List<bool>();
        pair.B.Frames.Subscribe(f =>
        {
            for (int i = 0; i < 3; i++) rejected.Add(f.Session.Send(new byte[40]).IsRejected); // 41 bytes each with the header
        });
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal([false, false, true], rejected);
        Assert.Equal(2, atA.Count);
        Assert.True(pair.B.IsOpen);
    }

    [Fact]
    public void AHandlersSendsPastTheBound_CloseTheSession_WithTheDefaultPolicy()
    {
        var (pair, scheduler, atA) = NewPair(b => b.MaxSendQueueBytes = 100);
        pair.B.Frames.Subscribe(f =>
        {
            for (int i = 0; i < 3; i++) f.Session.Send(new byte[40]);
        });
        pair.Start();

        pair.A.Send("go");
        scheduler.Start();

        Assert.Equal(CloseKind.SendQueueOverflow, pair.B.CloseReason!.Kind);
        Assert.Empty(atA); // an overflow aborts: what was queued is dropped
    }
}
