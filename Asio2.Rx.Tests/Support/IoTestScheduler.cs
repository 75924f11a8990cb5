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

    public override IDisposable ScheduleAbsolute<TState>(TState state, long dueTime, Func<IScheduler, TState, IDisposable> action)
    {
        lock (_queue) return base.ScheduleAbsolute(state, dueTime, action);
    }

    protected override IScheduledItem<long>? GetNext()
    {
        lock (_queue) return base.GetNext();
    }
}
