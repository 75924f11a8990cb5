using System.Reactive;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Core;

/// <summary>The hot stream behind <see cref="Session.Frames"/>: subscribers change while values are delivered, from
/// inside the delivery and from other threads.</summary>
public class HotStreamTests
{
    private sealed class Recorder : IObserver<int>
    {
        public List<int> Values { get; } = [];
        public int Completions { get; private set; }
        public Action<int>? During { get; set; }

        public void OnNext(int value)
        {
            Values.Add(value);
            During?.Invoke(value);
        }

        public void OnError(Exception error) => throw error;

        public void OnCompleted() => Completions++;
    }

    [Fact]
    public void ASubscriberAddedDuringDelivery_SeesTheNextValue_NotTheCurrentOne()
    {
        var stream = new HotStream<int>();
        var late = new Recorder();
        var first = new Recorder();
        first.During = v => { if (v == 1) stream.Subscribe(late); };
        stream.Subscribe(first);

        stream.OnNext(1);
        stream.OnNext(2);

        Assert.Equal([1, 2], first.Values);
        Assert.Equal([2], late.Values);
    }

    [Fact]
    public void UnsubscribingDuringDelivery_StopsTheNextValues_ForItselfAndForOthers()
    {
        var stream = new HotStream<int>();
        var a = new Recorder();
        var b = new Recorder();
        IDisposable? subA = null, subB = null;
        a.During = v => { if (v == 1) { subA!.Dispose(); subB!.Dispose(); } };
        subA = stream.Subscribe(a);
        subB = stream.Subscribe(b);

        stream.OnNext(1); // b was in the list when the delivery of 1 began
        stream.OnNext(2);

        Assert.Equal([1], a.Values);
        Assert.Equal([1], b.Values);
        Assert.False(stream.HasObservers);
    }

    [Fact]
    public void DisposingTwice_RemovesOneSubscriptionOnly()
    {
        var stream = new HotStream<int>();
        var same = new Recorder();
        var one = stream.Subscribe(same);
        stream.Subscribe(same);

        one.Dispose();
        one.Dispose();
        stream.OnNext(7);

        Assert.Equal([7], same.Values);
    }

    [Fact]
    public void Completion_ReachesEverySubscriber_AndLateSubscribersCompleteAtOnce()
    {
        var stream = new HotStream<int>();
        var early = new Recorder();
        stream.Subscribe(early);
        stream.OnNext(1);
        stream.OnCompleted();
        stream.OnNext(2); // after completion: nobody

        var late = new Recorder();
        stream.Subscribe(late).Dispose();

        Assert.Equal([1], early.Values);
        Assert.Equal(1, early.Completions);
        Assert.Empty(late.Values);
        Assert.Equal(1, late.Completions);
    }

    [Fact]
    public async Task SubscribersComingAndGoingOnOtherThreads_NeverMissAValueForAnObserverThatStays()
    {
        var stream = new HotStream<int>();
        var stays = new Recorder();
        stream.Subscribe(stays);
        using var stop = new CancellationTokenSource();
        var churn = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var observer = Observer.Create<int>(_ => { });
            while (!stop.IsCancellationRequested) stream.Subscribe(observer).Dispose();
        })).ToArray();

        for (int i = 0; i < 200_000; i++) stream.OnNext(i);
        stop.Cancel();
        await Task.WhenAll(churn).WaitAsync(Wait.Long);

        Assert.Equal(Enumerable.Range(0, 200_000), stays.Values);
        stream.OnCompleted();
        Assert.Equal(1, stays.Completions);
    }

    [Fact]
    public void SessionFrames_SubscribingAndUnsubscribingInAFrameHandler_TakesEffectFromTheNextFrame()
    {
        var scheduler = new TestScheduler();
        var options = new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) };
        var pair = InMemory.CreatePair(options, options);
        var first = new List<string>();
        var second = new List<string>();
        IDisposable? firstSubscription = null;
        firstSubscription = pair.B.Frames.Subscribe(f =>
        {
            first.Add(f.Text);
            if (f.Text != "b") return;
            firstSubscription!.Dispose();
            pair.B.Frames.Subscribe(g => second.Add(g.Text));
        });
        pair.Start();

        pair.A.Send("a\nb\nc\nd\n"); // one read: the change happens in the middle of its frames
        scheduler.AdvanceBy(1);

        Assert.Equal(["a", "b"], first);
        Assert.Equal(["c", "d"], second);
    }
}
