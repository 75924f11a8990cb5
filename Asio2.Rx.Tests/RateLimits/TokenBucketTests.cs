using System.Reactive.Concurrency;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.RateLimits;

public class TokenBucketTests
{
    private static readonly long Ms = TimeSpan.TicksPerMillisecond;

    [Fact]
    public void Bucket_StartsFull_AndRefillsOneTokenPerByteTime()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        Assert.Equal(100, bucket.Available);
        bucket.Take(100);
        Assert.Equal(0, bucket.Available);
        scheduler.AdvanceBy(Ms / 2);
        Assert.Equal(0, bucket.Available); // half a token is not a token
        scheduler.AdvanceBy(Ms / 2);
        Assert.Equal(1, bucket.Available);
        scheduler.AdvanceBy(37 * Ms);
        Assert.Equal(38, bucket.Available);
    }

    [Fact]
    public void IdleBucket_StopsAtTheBurst()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        bucket.Take(60);
        scheduler.AdvanceBy(TimeSpan.FromHours(1).Ticks);
        Assert.Equal(100, bucket.Available);
    }

    [Fact]
    public void RatesThatDoNotDivideATick_DoNotDrift()
    {
        // 3 B/s: a token every 3 333 333.3 ticks. Taking each token the moment it exists for 1000 s yields exactly
        // 3000 of them (the last at 1000 s sharp) after the initial one, whatever the rounding of each wait.
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(3, 1), scheduler);
        long end = TimeSpan.FromSeconds(1000).Ticks;
        long taken = 0;
        while (true)
        {
            var wait = bucket.WaitAsync(1);
            if (!wait.IsCompleted) scheduler.Start(); // runs to the bucket's timer, the only work scheduled
            if (scheduler.Clock > end) break;
            bucket.Take(1);
            taken++;
        }
        Assert.Equal(1 + 3000, taken);
    }

    [Fact]
    public void WaitAsync_CompletesAtExactlyTheTickTheTokensExist()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        bucket.Take(100);
        var wait = bucket.WaitAsync(50);
        scheduler.AdvanceTo(50 * Ms - 1);
        Assert.False(wait.IsCompleted);
        scheduler.AdvanceTo(50 * Ms);
        Assert.True(wait.IsCompleted);
        Assert.Equal(50, bucket.Available);
    }

    [Fact]
    public void WaitAsync_ForMoreThanTheBurst_WaitsForAFullBucketOnly()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        bucket.Take(100);
        var wait = bucket.WaitAsync(1_000_000);
        scheduler.AdvanceTo(100 * Ms);
        Assert.True(wait.IsCompleted);
    }

    [Fact]
    public void WaitAsync_WithTokensEnough_CompletesSynchronouslyWithoutATimer()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        Assert.True(bucket.WaitAsync(100).IsCompleted);
        scheduler.Start(); // nothing was scheduled: Start returns at once, the clock stays
        Assert.Equal(0, scheduler.Clock);
    }

    [Fact]
    public void Debt_IsRepaidBeforeTheNextWaitEnds()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        bucket.Take(250);
        Assert.Equal(-150, bucket.Available);
        var wait = bucket.WaitAsync(0);
        scheduler.AdvanceTo(150 * Ms - 1);
        Assert.False(wait.IsCompleted);
        scheduler.AdvanceTo(150 * Ms);
        Assert.True(wait.IsCompleted);
    }

    [Fact]
    public void LateTimers_LoseNoBudget()
    {
        // Every timer fires 7 ms late (a coarse real clock). A bucket that capped at the burst while its waiter was
        // late would lose 7 ms of every 100 ms step: 7 % of the rate.
        var test = new TestScheduler();
        var late = new LateScheduler(test, TimeSpan.FromMilliseconds(7));
        var bucket = new TokenBucket(new RateLimit(1000, 100), late);
        long taken = 0;
        long end = TimeSpan.FromSeconds(10).Ticks;
        while (true)
        {
            var wait = bucket.WaitAsync(100);
            if (!wait.IsCompleted) test.Start();
            if (test.Clock > end) break;
            long n = bucket.Available;
            bucket.Take(n);
            taken += n;
        }
        // Earned by 10 s: the initial burst plus 1000 B/s; the last wake-up may trail by one step plus the lateness.
        Assert.InRange(taken, 100 + 10_000 - 107, 100 + 10_000 + 7);
    }

    [Fact]
    public void Close_EndsTheWait_AndLaterWaitsEndAtOnce()
    {
        var scheduler = new TestScheduler();
        var bucket = new TokenBucket(new RateLimit(1000, 100), scheduler);
        bucket.Take(100);
        var wait = bucket.WaitAsync(100);
        Assert.False(wait.IsCompleted);
        bucket.Close();
        Assert.True(wait.IsCompleted);
        Assert.True(bucket.WaitAsync(100).IsCompleted);
    }

    [Fact]
    public void ImmediateScheduler_IsNotSleptOn()
    {
        // Timed work on the immediate scheduler would block the waiting loop's thread; the bucket times it elsewhere.
        var bucket = new TokenBucket(new RateLimit(1_000_000, 1), ImmediateScheduler.Instance);
        bucket.Take(1_000_000); // a second of debt
        var wait = bucket.WaitAsync(1);
        Assert.False(wait.IsCompleted); // returned without sleeping
        bucket.Close();
    }

    /// <summary>A scheduler whose timers all fire <paramref name="lateness"/> after they are due.</summary>
    private sealed class LateScheduler(TestScheduler inner, TimeSpan lateness) : IScheduler
    {
        public DateTimeOffset Now => inner.Now;

        public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action) => inner.Schedule(state, action);

        public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) =>
            inner.Schedule(state, dueTime + lateness, action);

        public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) =>
            inner.Schedule(state, dueTime + lateness, action);
    }
}
