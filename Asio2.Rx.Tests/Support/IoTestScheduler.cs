using System.Reactive.Concurrency;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests;

/// <summary>
/// A <see cref="TestScheduler"/> for tests that mix virtual time with real sockets. Sessions pinned to a scheduler
/// run their read loop on it, so a receive that completes on an I/O thread schedules its continuation from there
/// while the test thread advances the clock; <see cref="TestScheduler"/>'s queue is not thread-safe, and such a race
/// could lose a work item (a session's finish, and with it the server's stop). Here the queue is guarded; work items
/// still run only on the thread that advances the clock, one at a time, in virtual-time order.
/// </summary>
internal sealed class IoTestScheduler : TestScheduler
{
    private readonly object _queue = new();
    private readonly Dictionary<long, TaskCompletionSource> _queuedAt = [];

    public override IDisposable ScheduleAbsolute<TState>(TState state, long dueTime, Func<IScheduler, TState, IDisposable> action)
    {
        lock (_queue)
        {
            var scheduled = base.ScheduleAbsolute(state, dueTime, action);
            QueuedAt(dueTime).TrySetResult();
            return scheduled;
        }
    }

    protected override IScheduledItem<long>? GetNext()
    {
        lock (_queue) return base.GetNext();
    }

    /// <summary>Completes when a work item due at <paramref name="dueTime"/> has been queued, from any thread (at
    /// once if one was): a test that must not move the clock before an I/O thread armed a timer awaits this.</summary>
    public Task WhenQueued(long dueTime)
    {
        lock (_queue) return QueuedAt(dueTime).Task;
    }

    private TaskCompletionSource QueuedAt(long dueTime)
    {
        if (!_queuedAt.TryGetValue(dueTime, out var queued))
            _queuedAt.Add(dueTime, queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return queued;
    }
}
