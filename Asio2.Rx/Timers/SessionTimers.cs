using System.Reactive.Concurrency;
using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>
/// Timers bound to a session (asio2's <c>start_timer</c> on a session object): they tick on the session's
/// <see cref="Session.Scheduler"/>, never concurrently with its frames, and complete when the session closes, so a
/// heartbeat or a deadline cannot outlive its connection.
/// </summary>
/// <remarks>
/// <para>Standalone timers need nothing from this library: they are plain Rx. asio2's
/// <c>timer.start_timer(id, interval, callback)</c> is <c>var t = Observable.Interval(interval, scheduler).Subscribe(callback)</c>,
/// <c>stop_timer(id)</c> is <c>t.Dispose()</c>, a repeat count is <c>.Take(n)</c>, a first delay is
/// <c>Observable.Timer(firstDelay, interval, scheduler)</c>, and <c>stop_all_timers()</c> is disposing a
/// <c>CompositeDisposable</c> that holds them.</para>
/// <para>Every stream here is cold: each subscription starts its own timer. Disposing the subscription stops it
/// early (<c>stop_timer</c>). Subscribing to a session that already closed completes at once without a tick.</para>
/// </remarks>
/// <example>
/// <code>
/// server.Sessions.Subscribe(session =>
/// {
///     // A heartbeat every 5 s for as long as the session lives.
///     session.Every(TimeSpan.FromSeconds(5)).Subscribe(_ => session.Send("ping\n"));
///     // Close a session that has not said hello within 10 s.
///     session.After(TimeSpan.FromSeconds(10))
///            .TakeUntil(session.Frames.Where(f => f.Text == "hello"))
///            .Subscribe(_ => session.Close());
/// });
/// </code>
/// </example>
public static class SessionTimers
{
    /// <summary>Ticks 0, 1, 2, ... every <paramref name="period"/> on the session's scheduler, until the session closes.</summary>
    /// <param name="session">The session the timer belongs to.</param>
    /// <param name="period">Time between ticks; the first tick comes one period after subscription.</param>
    public static IObservable<long> Every(this Session session, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        return Ticks(session.Scheduler, period, period).TakeUntilClosed(session);
    }

    /// <summary>Ticks 0 after <paramref name="dueTime"/>, then 1, 2, ... every <paramref name="period"/>, on the
    /// session's scheduler, until the session closes (asio2's timer with a first delay).</summary>
    public static IObservable<long> Every(this Session session, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfLessThan(dueTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        return Ticks(session.Scheduler, dueTime, period).TakeUntilClosed(session);
    }

    /// <summary>One tick (0) after <paramref name="dueTime"/> on the session's scheduler, then completion; completes
    /// without a tick if the session closes first. A one-shot timer or deadline tied to the connection.</summary>
    public static IObservable<long> After(this Session session, TimeSpan dueTime)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfLessThan(dueTime, TimeSpan.Zero);
        return Ticks(session.Scheduler, dueTime, null).TakeUntilClosed(session);
    }

    /// <summary>Mirrors <paramref name="source"/> until <paramref name="session"/> closes, then completes: binds any
    /// stream (a standalone timer, a subject, a query) to a session's lifetime.</summary>
    public static IObservable<T> TakeUntilClosed<T>(this IObservable<T> source, Session session)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(session);
        // Closed is an AsyncSubject: a session that already closed replays its reason, so this completes at once.
        return source.TakeUntil(session.Closed);
    }

    /// <summary>
    /// Ticks 0 after <paramref name="dueTime"/>, then (with a <paramref name="period"/>) 1, 2, ... at dueTime + n *
    /// period, without drift. Each tick is a <see cref="DetachedTimer"/>: when the session closes, the tick still queued
    /// in the scheduler holds nothing of the subscriber (Rx's own timers keep their observer chain, and through it the
    /// session, queued until the due time).
    /// </summary>
    private static IObservable<long> Ticks(IScheduler scheduler, TimeSpan dueTime, TimeSpan? period) =>
        Observable.Create<long>(observer => new Ticker(scheduler, dueTime, period, observer));

    private sealed class Ticker : IDisposable
    {
        private readonly IScheduler _scheduler;
        private readonly TimeSpan? _period;
        private readonly DateTimeOffset _first;
        private IObserver<long>? _observer;
        private IDisposable? _timer;
        private long _ticks;

        public Ticker(IScheduler scheduler, TimeSpan dueTime, TimeSpan? period, IObserver<long> observer)
        {
            _scheduler = scheduler;
            _period = period;
            _observer = observer;
            _first = scheduler.Now + dueTime;
            Arm(dueTime);
        }

        private void Arm(TimeSpan delay) =>
            Volatile.Write(ref _timer, DetachedTimer.Schedule(_scheduler, delay, this, static t => t.Tick()));

        private void Tick()
        {
            if (Volatile.Read(ref _observer) is not { } observer) return;
            long n = _ticks++;
            observer.OnNext(n);
            if (_period is not { } period)
            {
                observer.OnCompleted();
                return;
            }
            if (Volatile.Read(ref _observer) is null) return;
            var next = _first + period * (n + 1) - _scheduler.Now;
            Arm(next > TimeSpan.Zero ? next : TimeSpan.Zero);
        }

        public void Dispose()
        {
            Volatile.Write(ref _observer, null);
            _timer?.Dispose();
        }
    }
}
