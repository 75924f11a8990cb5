using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Asio2.Rx;

/// <summary>
/// One-shot timers whose disposal frees what they would have run on. A scheduler keeps a cancelled work item in its
/// queue until its due time (<c>EventLoopScheduler</c> does), together with its state: a 10 s handshake timer whose
/// state is a session kept that session in memory for 10 s after it closed. Here the queued state is a small handle
/// that forgets the real state and action when disposed, so a closed session is collectable at once.
/// </summary>
internal static class DetachedTimer
{
    /// <summary>Runs <paramref name="action"/>(<paramref name="state"/>) on <paramref name="scheduler"/> after
    /// <paramref name="dueTime"/>, unless the returned handle is disposed first.</summary>
    public static IDisposable Schedule<TState>(IScheduler scheduler, TimeSpan dueTime, TState state, Action<TState> action)
        where TState : class
    {
        var handle = new Handle<TState>(state, action);
        handle.Arm(scheduler, dueTime);
        return handle;
    }

    private sealed class Handle<TState>(TState state, Action<TState> action) : IDisposable where TState : class
    {
        private TState? _state = state;
        private Action<TState>? _action = action;
        private IDisposable? _scheduled;

        public void Arm(IScheduler scheduler, TimeSpan dueTime)
        {
            var scheduled = scheduler.Schedule(this, dueTime, static (_, h) =>
            {
                h.Fire();
                return Disposable.Empty;
            });
            // Disposed while arming: cancel what was just scheduled too.
            if (Interlocked.CompareExchange(ref _scheduled, scheduled, null) is not null || Volatile.Read(ref _state) is null) scheduled.Dispose();
        }

        private void Fire()
        {
            var action = Volatile.Read(ref _action);
            var state = Interlocked.Exchange(ref _state, null);
            _action = null;
            _scheduled = null;
            if (state is not null && action is not null) action(state);
        }

        public void Dispose()
        {
            Volatile.Write(ref _state, null);
            _action = null;
            Interlocked.Exchange(ref _scheduled, Disposable.Empty)?.Dispose();
        }
    }
}
