using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Asio2.Rx;

// The default call timeout. Every call waits the same time, so deadlines come in call order: one queue, and one
// scheduler timer at a time for its head, instead of a timer per call (which cost more than the call on a busy loop).
public sealed partial class RpcPeer
{
    private readonly Queue<PendingCall> _deadlines = new(); // under _gate
    private bool _timerArmed; // under _gate

    private void StartTimeout(PendingCall call, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (call.IsDone) return; // already answered
            call.Deadline = Session.Scheduler.Now.UtcTicks + timeout.Ticks;
            _deadlines.Enqueue(call);
            if (!_timerArmed) ArmTimer(timeout);
        }
    }

    /// <summary>A call left the pending table: drop finished calls from the head so the queue stays short when
    /// responses come in order. Under _gate.</summary>
    private void Done(PendingCall call)
    {
        call.IsDone = true;
        while (_deadlines.TryPeek(out var head) && head.IsDone) _deadlines.Dequeue();
    }

    private void ArmTimer(TimeSpan due)
    {
        _timerArmed = true;
        Session.Scheduler.Schedule(this, due, static (_, peer) =>
        {
            peer.OnDeadline();
            return Disposable.Empty;
        });
    }

    private void OnDeadline()
    {
        List<PendingCall>? expired = null;
        lock (_gate)
        {
            _timerArmed = false;
            long now = Session.Scheduler.Now.UtcTicks;
            while (_deadlines.TryPeek(out var head))
            {
                if (!head.IsDone)
                {
                    if (head.Deadline > now)
                    {
                        ArmTimer(TimeSpan.FromTicks(head.Deadline - now));
                        break;
                    }
                    _pending.Remove(head.Id);
                    head.IsDone = true;
                    (expired ??= new()).Add(head);
                }
                _deadlines.Dequeue();
            }
        }
        if (expired is null) return;
        var timeout = _settings.DefaultTimeout!.Value;
        foreach (var call in expired)
        {
            SendCancel(call.Id);
            call.Fail(new RpcException(RpcErrorKind.Timeout, $"no response within {timeout.TotalMilliseconds:0} ms"));
        }
    }
}
