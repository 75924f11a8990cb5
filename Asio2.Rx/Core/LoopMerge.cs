using System.Reactive.Disposables;

namespace Asio2.Rx;

/// <summary>A server's <c>Sessions</c> stream: it knows the one loop its sessions run on, if there is one.</summary>
internal interface ILoopSessions
{
    /// <summary>The loop every session runs on; null when there are several, or they are not known.</summary>
    LoopThread? SingleLoop { get; }

    /// <summary>Logs an exception a subscriber threw from <c>OnError</c> (<paramref name="onError"/>) or <c>OnCompleted</c>.</summary>
    void TerminalFailed(Exception error, bool onError);
}

/// <summary>
/// <c>SelectMany</c> over sessions that all run on one loop: every downstream call is made on the loop's thread, so the
/// loop serializes them and a frame takes no lock. A notification raised on the loop goes downstream at once unless
/// notifications from other threads wait; those (an inner stream moved off the loop, the completion of
/// <c>Sessions</c> on the stopping thread) queue for the loop, and what the loop raises while some wait queues behind
/// them, so each stream's order is kept.
/// </summary>
internal sealed class LoopMerge(ILoopSessions source, IObservable<Session> sessions, Func<Session, IObservable<Frame>> selector, LoopThread loop)
    : IObservable<Frame>
{
    public IDisposable Subscribe(IObserver<Frame> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var sink = new Sink(source, selector, loop, observer);
        sink.Run(sessions);
        return sink;
    }

    private enum Kind : byte
    {
        Frame,
        Completed,
        Error,
    }

    /// <summary>A notification waiting for the loop. <see cref="Inner"/> null on a completion: the sessions stream's.</summary>
    private readonly record struct Notification(Kind Kind, Frame Frame, Inner? Inner, Exception? Error);

    private sealed class Sink(ILoopSessions source, Func<Session, IObservable<Frame>> selector, LoopThread loop, IObserver<Frame> observer)
        : IObserver<Session>, IDisposable
    {
        private readonly SingleAssignmentDisposable _outer = new();
        private readonly CompositeDisposable _inners = new();
        private readonly object _gate = new();
        private List<Notification> _queue = [];     // under _gate
        private List<Notification> _draining = [];  // the loop's
        private volatile bool _queued;              // set under _gate: notifications wait for the loop
        private volatile bool _stopped;             // terminated or disposed: nothing more goes downstream
        private int _active = 1;                    // the sessions stream and every inner stream not completed yet

        public void Run(IObservable<Session> sessions) => _outer.Disposable = sessions.SubscribeSafe(this);

        public void OnNext(Session session)
        {
            IObservable<Frame> frames;
            try
            {
                frames = selector(session) ?? throw new InvalidOperationException("The SelectMany selector returned null.");
            }
            catch (Exception ex)
            {
                Route(new Notification(Kind.Error, default, null, ex));
                return;
            }
            var inner = new Inner(this);
            Interlocked.Increment(ref _active);
            _inners.Add(inner);
            inner.Set(frames.SubscribeSafe(inner)); // as Rx: a Subscribe that throws errors the inner stream
        }

        public void OnError(Exception error) => Route(new Notification(Kind.Error, default, null, error));

        public void OnCompleted() => Route(new Notification(Kind.Completed, default, null, null));

        /// <summary>The hot path: a frame raised on the loop with nothing waiting goes straight downstream.</summary>
        public void OnFrame(Frame frame)
        {
            if (loop.IsCurrent && !_queued)
            {
                if (!_stopped) observer.OnNext(frame);
            }
            else
            {
                Enqueue(new Notification(Kind.Frame, frame, null, null));
            }
        }

        /// <summary>On the loop with nothing waiting: at once, and what downstream throws goes back to the caller, as
        /// with Rx. Elsewhere: queued for the loop.</summary>
        public void Route(Notification notification)
        {
            if (loop.IsCurrent && !_queued) Deliver(notification);
            else Enqueue(notification);
        }

        private void Enqueue(Notification notification)
        {
            lock (_gate)
            {
                if (_stopped) return;
                _queue.Add(notification);
                if (_queued) return;
                _queued = true;
            }
            ScheduleDrain();
        }

        private void ScheduleDrain()
        {
            try
            {
                loop.Scheduler.Schedule(this, static (_, sink) =>
                {
                    sink.Drain();
                    return Disposable.Empty;
                });
            }
            catch (ObjectDisposedException)
            {
                // The loop is gone (its pool was disposed): nothing can be delivered any more, so let go of everything.
                Stop();
            }
        }

        /// <summary>On the loop: delivers what waited so far, then yields the loop if more came meanwhile.</summary>
        private void Drain()
        {
            List<Notification> batch;
            lock (_gate)
            {
                batch = _queue;
                _queue = _draining;
            }
            _draining = batch;
            foreach (var notification in batch) DeliverQueued(notification);
            batch.Clear();
            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _queued = false;
                    return;
                }
            }
            ScheduleDrain();
        }

        /// <summary>Nobody called us from here, so what downstream throws is handled here: a frame's handler closes its
        /// session (as a throwing <c>Frames</c> subscriber does); an end handler is logged.</summary>
        private void DeliverQueued(Notification notification)
        {
            try
            {
                Deliver(notification);
            }
            catch (Exception ex) when (notification.Kind != Kind.Frame || notification.Frame.Session is not null)
            {
                if (notification.Kind == Kind.Frame) notification.Frame.Session.OnUserCodeFault(ex);
                else source.TerminalFailed(ex, notification.Kind == Kind.Error);
            }
        }

        /// <summary>On the loop.</summary>
        private void Deliver(Notification notification)
        {
            switch (notification.Kind)
            {
                case Kind.Frame:
                    if (!_stopped) observer.OnNext(notification.Frame);
                    break;
                case Kind.Completed:
                    if (notification.Inner is { } inner) _inners.Remove(inner);
                    else _outer.Dispose();
                    if (Interlocked.Decrement(ref _active) == 0 && !_stopped)
                    {
                        Stop();
                        observer.OnCompleted();
                    }
                    break;
                default:
                    if (_stopped) break;
                    Stop();
                    observer.OnError(notification.Error!);
                    break;
            }
        }

        private void Stop()
        {
            _stopped = true;
            _outer.Dispose();
            _inners.Dispose();
            lock (_gate) _queue.Clear();
        }

        public void Dispose() => Stop();
    }

    private sealed class Inner(Sink sink) : IObserver<Frame>, IDisposable
    {
        private readonly SingleAssignmentDisposable _subscription = new();

        public void Set(IDisposable subscription) => _subscription.Disposable = subscription;

        public void OnNext(Frame frame) => sink.OnFrame(frame);

        public void OnError(Exception error) => sink.Route(new Notification(Kind.Error, default, null, error));

        public void OnCompleted() => sink.Route(new Notification(Kind.Completed, default, this, null));

        public void Dispose() => _subscription.Dispose();
    }
}
