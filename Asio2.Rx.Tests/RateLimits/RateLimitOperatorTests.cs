using System.Reactive.Linq;
using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using static Microsoft.Reactive.Testing.ReactiveTest;

namespace Asio2.Rx.Tests.RateLimits;

public class RateLimitOperatorTests
{
    private static readonly long Ms = TimeSpan.TicksPerMillisecond;

    [Fact]
    public void Items_ArePacedToTheRate_AtExactTicks_AndCompleteAfterTheLast()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(
            Enumerable.Range(0, 5).Select(i => OnNext(10, i)).Append(OnCompleted<int>(10)).ToArray());

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), _ => 100, scheduler), created: 0, subscribed: 5, disposed: long.MaxValue);

        // 100-byte items at 1000 B/s, burst 100: one at once, then one every 100 ms; completion behind the last.
        result.Messages.AssertEqual(
            OnNext(10, 0),
            OnNext(10 + 100 * Ms, 1),
            OnNext(10 + 200 * Ms, 2),
            OnNext(10 + 300 * Ms, 3),
            OnNext(10 + 400 * Ms, 4),
            OnCompleted<int>(10 + 400 * Ms));
    }

    [Fact]
    public void ItemsLargerThanTheBurst_PassWhenTheBucketIsFull_AndRepayTheirDebt()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(OnNext(10, 250), OnNext(10, 250), OnNext(10, 250), OnCompleted<int>(10));

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), n => n, scheduler), 0, 5, long.MaxValue);

        // The first takes the full bucket into 150 bytes of debt; each next one waits until the bucket holds 100 again
        // (250 ms later): the long-run rate is exactly 1000 B/s even though no item fits in a burst.
        result.Messages.AssertEqual(
            OnNext(10, 250),
            OnNext(10 + 250 * Ms, 250),
            OnNext(10 + 500 * Ms, 250),
            OnCompleted<int>(10 + 500 * Ms));
    }

    [Fact]
    public void NothingIsDropped_AndOrderIsKept_ForAnyMixOfSizes()
    {
        var scheduler = new TestScheduler();
        var random = new Random(5);
        var sizes = Enumerable.Range(0, 300).Select(_ => random.Next(0, 400)).ToArray();
        var source = scheduler.CreateHotObservable(
            sizes.Select((n, i) => OnNext(10 + i * Ms, i)).Append(OnCompleted<int>(10 + 300 * Ms)).ToArray());

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(2000, 150), i => sizes[i], scheduler), 0, 5, long.MaxValue);

        var items = result.Messages.Where(m => m.Value.Kind == System.Reactive.NotificationKind.OnNext).Select(m => (m.Time, Index: m.Value.Value)).ToList();
        Assert.Equal(Enumerable.Range(0, 300), items.Select(x => x.Index));
        // Never faster than the limit: by any item's time, what passed is at most the burst plus the rate times the
        // elapsed time plus the one item that may go into debt.
        long passed = 0;
        foreach (var (time, index) in items)
        {
            passed += sizes[index];
            Assert.True(passed <= 150 + 2000 * (time - 10) / TimeSpan.TicksPerSecond + 400, $"{passed} bytes by tick {time}");
        }
        Assert.Equal(System.Reactive.NotificationKind.OnCompleted, result.Messages[^1].Value.Kind);
    }

    [Fact]
    public void Errors_WaitBehindTheItemsQueuedBeforeThem()
    {
        var scheduler = new TestScheduler();
        var boom = new InvalidOperationException("boom");
        var source = scheduler.CreateHotObservable(OnNext(10, 1), OnNext(10, 2), OnError<int>(10, boom));

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), _ => 100, scheduler), 0, 5, long.MaxValue);

        result.Messages.AssertEqual(OnNext(10, 1), OnNext(10 + 100 * Ms, 2), OnError<int>(10 + 100 * Ms, boom));
    }

    [Fact]
    public void ItemsWithinBudget_PassSynchronouslyOnTheProducersThread()
    {
        var scheduler = new TestScheduler();
        var subject = new Subject<int>();
        var seen = new List<int>();
        using var _ = subject.RateLimit(new RateLimit(1000, 100), _ => 10, scheduler).Subscribe(seen.Add);
        subject.OnNext(1);
        Assert.Equal([1], seen); // before the scheduler ran at all
    }

    [Fact]
    public void Dispose_StopsDelayedItems_AndUnsubscribesTheSource()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(OnNext(10, 1), OnNext(10, 2), OnNext(10, 3));

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), _ => 100, scheduler), 0, 5, disposed: 10 + 150 * Ms);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(5).Ticks);

        result.Messages.AssertEqual(OnNext(10, 1), OnNext(10 + 100 * Ms, 2));
        source.Subscriptions.AssertEqual(Subscribe(5, 10 + 150 * Ms));
    }

    [Fact]
    public void ANegativeSize_EndsTheStreamWithAnError()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(OnNext(10, -1));

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), n => n, scheduler), 0, 5, long.MaxValue);

        Assert.IsType<ArgumentOutOfRangeException>(Assert.Single(result.Messages).Value.Exception);
    }

    [Fact]
    public void EachSubscription_HasItsOwnBucket()
    {
        var scheduler = new TestScheduler();
        var limited = Observable.Return(100, scheduler).RateLimit(new RateLimit(1000, 100), n => n, scheduler);
        var first = scheduler.CreateObserver<int>();
        var second = scheduler.CreateObserver<int>();
        limited.Subscribe(first);
        limited.Subscribe(second);
        scheduler.Start();
        Assert.Equal(1L, first.Messages[0].Time);
        Assert.Equal(1L, second.Messages[0].Time); // not paced behind the first subscription
    }

    [Fact]
    public void ByteChunks_CostTheirLength()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(
            OnNext(10, new ReadOnlyMemory<byte>(new byte[100])),
            OnNext(10, new ReadOnlyMemory<byte>(new byte[50])),
            OnCompleted<ReadOnlyMemory<byte>>(10));

        var result = scheduler.Start(() => source.RateLimit(new RateLimit(1000, 100), scheduler).Select(m => m.Length), 0, 5, long.MaxValue);

        result.Messages.AssertEqual(OnNext(10, 100), OnNext(10 + 50 * Ms, 50), OnCompleted<int>(10 + 50 * Ms));
    }

    [Fact]
    public void RateLimit_RejectsNonsense_AndDefaultsTheBurstToATenthOfASecond()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimit(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimit(1000, 0));
        Assert.Equal(100, new RateLimit(1000).Burst);
        Assert.Equal(1, new RateLimit(5).Burst);
        Assert.Equal(1_000_000, new RateLimit(10_000_000).Burst);
    }
}
