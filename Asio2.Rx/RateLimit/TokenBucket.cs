using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

/// <summary>
/// The token bucket behind <see cref="RateLimit"/>: integer tokens (bytes) refilled from a scheduler's stopwatch, with
/// exact arithmetic (no drift, no floating point), and one waiter at a time woken by a scheduler timer (no polling).
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> One consumer at a time (a session's read loop, its send queue's writer, one operator
/// subscription) calls <see cref="Available"/>, <see cref="Take"/> and <see cref="WaitAsync"/>; the timer and
/// <see cref="Close"/> may run on other threads. A lock keeps the state consistent; waiters are completed outside it.</para>
/// <para><b>Continuations run inline</b> on the thread that completes the wait (the scheduler's, for a timer), so under
/// a <c>TestScheduler</c> a wait that ends at tick T resumes its loop at tick T, inside <c>AdvanceTo</c>.</para>
/// </remarks>
internal sealed class TokenBucket : IValueTaskSource
{
    private const long TicksPerSecond = TimeSpan.TicksPerSecond;

    private readonly object _lock = new();
    private readonly long _rate;
    private readonly long _burst;
    private readonly IScheduler _scheduler;
    private readonly IStopwatch _clock;
    private long _tokens;      // whole tokens; negative = debt
    private long _fraction;    // byte-ticks toward the next token, in [0, TicksPerSecond)
    private long _lastTicks;
    private bool _waiting;
    private long _need;
    private IDisposable? _timer;
    private bool _closed;
    private ManualResetValueTaskSourceCore<bool> _core;

    public TokenBucket(RateLimit limit, IScheduler scheduler)
    {
        _rate = limit.BytesPerSecond;
        _burst = limit.Burst;
        // Schedulers that run timed work on the calling thread would sleep in it: time those waits on the thread pool.
        _scheduler = scheduler is ImmediateScheduler or CurrentThreadScheduler ? DefaultScheduler.Instance : scheduler;
        _clock = _scheduler.StartStopwatch(); // monotonic in real time, exact in virtual time
        _tokens = _burst;
    }

    public long Burst => _burst;

    public long BytesPerSecond => _rate;

    /// <summary>Whole tokens now; negative while in debt.</summary>
    public long Available
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens;
            }
        }
    }

    /// <summary>Spends <paramref name="count"/> tokens; the bucket may go into debt.</summary>
    public void Take(long count)
    {
        Debug.Assert(count >= 0);
        lock (_lock)
        {
            Refill();
            _tokens -= count;
        }
    }

    /// <summary>
    /// Completes when the bucket holds at least <c>min(<paramref name="need"/>, Burst)</c> tokens, or when the bucket
    /// is closed. Completes synchronously when it already does. One waiter at a time.
    /// </summary>
    public ValueTask WaitAsync(long need)
    {
        TimeSpan due;
        short version;
        lock (_lock)
        {
            if (_closed) return default;
            Debug.Assert(!_waiting, "one waiter at a time");
            Refill();
            need = Math.Min(need, _burst);
            if (_tokens >= need) return default;
            _waiting = true;
            _need = need;
            _core.Reset();
            version = _core.Version;
            due = TimeUntil(need);
        }
        Arm(due);
        return new ValueTask(this, version);
    }

    /// <summary>Ends every wait now and for good; later waits complete at once. The owner is shutting down.</summary>
    public void Close()
    {
        bool wake;
        IDisposable? timer;
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            wake = _waiting;
            _waiting = false;
            timer = _timer;
            _timer = null;
        }
        timer?.Dispose();
        if (wake) _core.SetResult(true);
    }

    private void Arm(TimeSpan due)
    {
        var timer = _scheduler.Schedule(this, due, static (_, b) =>
        {
            b.OnTimer();
            return Disposable.Empty;
        });
        lock (_lock)
        {
            // The wait may have ended (closed) while the timer was being created.
            if (_waiting && !_closed)
            {
                _timer = timer;
                return;
            }
        }
        timer.Dispose();
    }

    private void OnTimer()
    {
        TimeSpan due;
        lock (_lock)
        {
            _timer = null;
            if (!_waiting) return;
            Refill();
            if (_tokens >= _need)
            {
                _waiting = false;
                due = TimeSpan.Zero;
            }
            else
            {
                // A real clock's timer can fire a little before the stopwatch agrees: wait for the rest.
                due = TimeUntil(_need);
            }
        }
        if (due == TimeSpan.Zero) _core.SetResult(true);
        else Arm(due);
    }

    /// <summary>Adds the tokens earned since the last refill. Idle, the bucket stops at the burst; while a waiter
    /// waits it does not, so a timer that fires late costs no budget. Never takes tokens away.</summary>
    private void Refill()
    {
        long now = _clock.Elapsed.Ticks;
        long elapsed = now - _lastTicks;
        if (elapsed <= 0) return;
        _lastTicks = now;
        if (!_waiting && _tokens >= _burst)
        {
            _fraction = 0;
            return;
        }
        Int128 credit = (Int128)elapsed * _rate + _fraction;
        Int128 tokens = _tokens + credit / TicksPerSecond;
        if (!_waiting && tokens >= _burst)
        {
            _tokens = _burst;
            _fraction = 0;
        }
        else
        {
            _tokens = tokens > long.MaxValue / 2 ? long.MaxValue / 2 : (long)tokens;
            _fraction = (long)(credit % TicksPerSecond);
        }
    }

    /// <summary>How long until the bucket holds <paramref name="need"/> tokens (more than it holds now).</summary>
    private TimeSpan TimeUntil(long need)
    {
        Int128 byteTicks = (Int128)(need - _tokens) * TicksPerSecond - _fraction;
        Int128 ticks = (byteTicks + _rate - 1) / _rate;
        if (ticks < 1) ticks = 1;
        return ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
