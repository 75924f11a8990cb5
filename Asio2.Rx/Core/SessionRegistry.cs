using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// A server's sessions: the <c>Sessions</c> stream, lookup by id, broadcast, and the announce-then-start order that
/// lets <c>Sessions.SelectMany(s =&gt; s.Frames)</c> see every first frame. Shared by every server (TCP, UDP, KCP).
/// </summary>
/// <remarks>Thread-safe. Notifications are serialized (Rx grammar) without holding the lock while user code runs:
/// they go through a queue that whichever thread finds it idle drains. Lookups are lock-free.</remarks>
internal sealed class SessionRegistry
{
    private static readonly object s_completed = new();

    private readonly SessionSettings _settings;
    private readonly Subject<Session> _sessions = new();
    private readonly ConcurrentDictionary<long, Session> _live = new();
    private readonly object _lock = new();
    private readonly Queue<object> _notifications = new(); // a Session to announce, an Exception, or s_completed
    private bool _notifying;
    private bool _stopping;
    private bool _ended;

    /// <param name="settings">The sessions' settings: logging and metrics.</param>
    /// <param name="pinnedFrom">The pool every announced session took its scheduler from: with one loop, merging the
    /// sessions' frames needs no lock (<see cref="LoopMerge"/>).</param>
    public SessionRegistry(SessionSettings settings, SchedulerPool pinnedFrom)
    {
        _settings = settings;
        Sessions = new GuardedSessions(this, pinnedFrom.SingleLoop);
    }

    public IObservable<Session> Sessions { get; }

    public int Count => _live.Count;

    public bool IsStopping => Volatile.Read(ref _stopping);

    public IReadOnlyList<Session> GetSessions() => _live.Values.ToArray();

    public Session? Find(long id) => _live.TryGetValue(id, out var s) ? s : null;

    public int Broadcast(ReadOnlySpan<byte> data)
    {
        int n = 0;
        foreach (var s in _live.Values)
            if (!s.Send(data).IsRejected) n++;
        return n;
    }

    /// <summary>
    /// Registers, announces, then starts <paramref name="session"/>. <paramref name="register"/> runs under the lock
    /// before the announcement (for extra lookup tables); <paramref name="unregister"/> runs when the session finishes.
    /// False when the server is stopping: the session is discarded. The announcement (and the start after it) may run
    /// on another thread that is announcing already, right after this returns.
    /// </summary>
    public bool TryAnnounce(Session session, Action? register = null, Action<Session>? unregister = null)
    {
        lock (_lock)
        {
            if (_stopping)
            {
                _settings.Metrics.Drop(_settings.Transport, "stopping");
                session.Discard();
                return false;
            }
            _live[session.Id] = session;
            register?.Invoke();
            session.Finished = s =>
            {
                _live.TryRemove(s.Id, out _);
                unregister?.Invoke(s);
            };
            if (!Enqueue(session)) return true;
        }
        Notify();
        return true;
    }

    /// <summary>Under the lock: queues a notification; true when the caller must drain the queue.</summary>
    private bool Enqueue(object notification)
    {
        _notifications.Enqueue(notification);
        if (_notifying) return false;
        _notifying = true;
        return true;
    }

    /// <summary>Delivers queued notifications, one at a time, outside the lock.</summary>
    private void Notify()
    {
        while (true)
        {
            object next;
            lock (_lock)
            {
                if (!_notifications.TryDequeue(out next!))
                {
                    _notifying = false;
                    return;
                }
            }
            switch (next)
            {
                case Session session:
                    _sessions.OnNext(session);
                    session.Start();
                    break;
                case Exception error:
                    _sessions.OnError(error);
                    break;
                default:
                    _sessions.OnCompleted();
                    break;
            }
        }
    }

    /// <summary>
    /// <c>Sessions</c>: each subscriber is guarded, so one subscriber's exception reaches neither the server nor the
    /// other subscribers (a Subject stops notifying at the first observer that throws). A throw from <c>OnNext</c>
    /// closes that session with <see cref="CloseKind.UserCodeFault"/>; a subscriber without <c>onError</c> (Rx then
    /// throws) cannot take the process down when the listener fails.
    /// </summary>
    private sealed class GuardedSessions(SessionRegistry registry, LoopThread? loop) : IObservable<Session>, ILoopSessions
    {
        public LoopThread? SingleLoop => loop;

        public SessionSettings Settings => registry._settings;

        public void TerminalFailed(Exception error, bool onError)
        {
            var settings = Settings;
            if (onError) Asio2Log.SessionsSubscriberHasNoErrorHandler(settings.Logger, error, settings.Transport);
            else Asio2Log.SessionsCompletionFailed(settings.Logger, error, settings.Transport);
        }

        public IDisposable Subscribe(IObserver<Session> observer) => registry._sessions.Subscribe(new Guard(this, observer));

        private sealed class Guard(GuardedSessions sessions, IObserver<Session> observer) : IObserver<Session>
        {
            public void OnNext(Session session)
            {
                try
                {
                    observer.OnNext(session);
                }
                catch (Exception ex)
                {
                    var settings = sessions.Settings;
                    settings.Metrics.UserCodeFault(settings.Transport);
                    Asio2Log.SessionsSubscriberFailed(settings.Logger, ex, session);
                    session.Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
                }
            }

            public void OnError(Exception error)
            {
                try { observer.OnError(error); }
                catch (Exception ex) { sessions.TerminalFailed(ex, onError: true); }
            }

            public void OnCompleted()
            {
                try { observer.OnCompleted(); }
                catch (Exception ex) { sessions.TerminalFailed(ex, onError: false); }
            }
        }
    }

    /// <summary>The server's socket failed: <c>Sessions</c> errors and every session closes.</summary>
    public void Fail(Exception error, string message)
    {
        Session[] sessions;
        bool notify;
        lock (_lock)
        {
            if (_ended) return;
            _stopping = _ended = true;
            sessions = _live.Values.ToArray();
            notify = Enqueue(error);
        }
        if (notify) Notify();
        Asio2Log.ServerFailed(_settings.Logger, error, _settings.Transport, message);
        _settings.Metrics.Error(_settings.Transport, "listener");
        var reason = new CloseReason(CloseKind.Error, error, message);
        foreach (var s in sessions) s.Shutdown(reason, graceful: false);
    }

    /// <summary>Refuses new sessions, closes the open ones gracefully (queued sends are flushed within the drain
    /// timeout) and completes when their streams have completed. Returns the sessions it closed.</summary>
    public async Task<Session[]> StopSessionsAsync()
    {
        Session[] sessions;
        lock (_lock)
        {
            _stopping = true;
            sessions = _live.Values.ToArray();
        }
        foreach (var s in sessions) s.Shutdown(new CloseReason(CloseKind.Stopped), graceful: true);
        await Task.WhenAll(sessions.Select(s => s.Closed.LastOrDefaultAsync().ToTask())).ConfigureAwait(false);
        return sessions;
    }

    /// <summary>Completes <c>Sessions</c> (unless it already ended).</summary>
    public void Complete()
    {
        bool notify;
        lock (_lock)
        {
            if (_ended) return;
            _stopping = _ended = true;
            notify = Enqueue(s_completed);
        }
        if (notify) Notify();
    }
}
