using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using static Microsoft.Reactive.Testing.ReactiveTest;

namespace Asio2.Rx.Tests.Timing;

public class SessionTimerTests
{
    private static readonly long S = TimeSpan.TicksPerSecond;

    private static (InMemoryPair Pair, TestScheduler Scheduler) NewPair()
    {
        var scheduler = new TestScheduler();
        var options = new SessionOptions { Schedulers = new SchedulerPool(scheduler) };
        var pair = InMemory.CreatePair(options);
        pair.Start();
        return (pair, scheduler);
    }

    /// <summary>Closes A at <paramref name="at"/>; its streams end one tick later (work scheduled "now" runs at Clock+1).</summary>
    private static void AbortAt(TestScheduler scheduler, Session session, long at) =>
        scheduler.ScheduleAbsolute(at, () => session.Abort());

    [Fact]
    public void Every_TicksEachPeriod_AndCompletesWhenTheSessionCloses()
    {
        var (pair, scheduler) = NewPair();
        var ticks = scheduler.CreateObserver<long>();
        pair.A.Every(TimeSpan.FromSeconds(1)).Subscribe(ticks);
        AbortAt(scheduler, pair.A, 3 * S + S / 2);

        scheduler.AdvanceTo(10 * S);

        ticks.Messages.AssertEqual(OnNext(1 * S, 0L), OnNext(2 * S, 1L), OnNext(3 * S, 2L), OnCompleted<long>(3 * S + S / 2 + 1));
    }

    [Fact]
    public void Every_WithAFirstDelay_TicksFirstAfterTheDelay()
    {
        var (pair, scheduler) = NewPair();
        var ticks = scheduler.CreateObserver<long>();
        pair.A.Every(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)).Subscribe(ticks);
        AbortAt(scheduler, pair.A, 2 * S + S / 2);

        scheduler.AdvanceTo(10 * S);

        long first = TimeSpan.FromMilliseconds(100).Ticks;
        ticks.Messages.AssertEqual(OnNext(first, 0L), OnNext(first + S, 1L), OnNext(first + 2 * S, 2L), OnCompleted<long>(2 * S + S / 2 + 1));
    }

    [Fact]
    public void After_TicksOnceThenCompletes()
    {
        var (pair, scheduler) = NewPair();
        var ticks = scheduler.CreateObserver<long>();
        pair.A.After(TimeSpan.FromSeconds(2)).Subscribe(ticks);

        scheduler.AdvanceTo(10 * S);

        ticks.Messages.AssertEqual(OnNext(2 * S, 0L), OnCompleted<long>(2 * S));
        Assert.True(pair.A.IsOpen);
    }

    [Fact]
    public void After_CompletesWithoutATick_WhenTheSessionClosesFirst()
    {
        var (pair, scheduler) = NewPair();
        var ticks = scheduler.CreateObserver<long>();
        pair.A.After(TimeSpan.FromSeconds(5)).Subscribe(ticks);
        AbortAt(scheduler, pair.A, 1 * S);

        scheduler.AdvanceTo(10 * S);

        ticks.Messages.AssertEqual(OnCompleted<long>(1 * S + 1));
    }

    [Fact]
    public void Timers_OnASessionThatAlreadyClosed_CompleteAtOnceWithoutATick()
    {
        var (pair, scheduler) = NewPair();
        pair.A.Abort();
        scheduler.AdvanceTo(10);
        var ticks = scheduler.CreateObserver<long>();

        pair.A.Every(TimeSpan.FromSeconds(1)).Subscribe(ticks);
        scheduler.AdvanceTo(10 * S);

        ticks.Messages.AssertEqual(OnCompleted<long>(10));
    }

    [Fact]
    public void Disposing_StopsTheTimer_LikeStopTimer()
    {
        var (pair, scheduler) = NewPair();
        var ticks = scheduler.CreateObserver<long>();
        var timer = pair.A.Every(TimeSpan.FromSeconds(1)).Subscribe(ticks);
        scheduler.ScheduleAbsolute(2 * S + S / 2, () => timer.Dispose());

        scheduler.AdvanceTo(10 * S);

        ticks.Messages.AssertEqual(OnNext(1 * S, 0L), OnNext(2 * S, 1L));
        Assert.True(pair.A.IsOpen);
    }

    [Fact]
    public void TakeUntilClosed_BindsAnyStreamToTheSession()
    {
        var (pair, scheduler) = NewPair();
        var subject = new Subject<int>();
        var seen = scheduler.CreateObserver<int>();
        subject.TakeUntilClosed(pair.B).Subscribe(seen);
        subject.OnNext(1);
        pair.B.Abort();
        scheduler.AdvanceTo(5);
        subject.OnNext(2);

        seen.Messages.AssertEqual(OnNext(0, 1), OnCompleted<int>(1));
    }

    [Fact]
    public async Task Ticks_AreDeliveredOnTheSessionsEventLoop_LikeItsFrames()
    {
        using var pool = new SchedulerPool(1);
        var pair = InMemory.CreatePair(new SessionOptions { Schedulers = pool });
        var frameThread = pair.B.Frames.Select(_ => Environment.CurrentManagedThreadId).First("a frame");
        var tickThread = pair.B.Every(TimeSpan.FromMilliseconds(10)).Select(_ => Environment.CurrentManagedThreadId).First("a tick");
        pair.Start();
        _ = pair.A.Send("x");

        Assert.Equal(await frameThread, await tickThread);
        pair.A.Abort();
    }

    [Fact]
    public void Arguments_AreChecked()
    {
        var (pair, _) = NewPair();
        Assert.Throws<ArgumentOutOfRangeException>(() => pair.A.Every(TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => pair.A.Every(TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => pair.A.After(TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentNullException>(() => ((Session)null!).After(TimeSpan.Zero));
    }
}
