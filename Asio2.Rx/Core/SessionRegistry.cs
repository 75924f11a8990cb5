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
/// <remarks>Thread-safe. Announcements are serialized under one lock (Rx grammar); lookups are lock-free.</remarks>
internal sealed class SessionRegistry
{
    private readonly SessionSettings _settings;
    private readonly Subject<Session> _sessions = new();
    private readonly ConcurrentDictionary<long, Session> _live = new();
    private readonly object _lock = new();
    private bool _stopping;
    private bool _failed;

    public SessionRegistry(SessionSettings settings)
    {
        _settings = settings;
        Sessions = _sessions.AsObservable();
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
    /// False when the server is stopping: the session is discarded.
    /// </summary>
    public bool TryAnnounce(Session session, Action? register = null, Action<Session>? unregister = null)
    {
        lock (_lock)
        {
            if (_stopping)
            {
                Asio2Metrics.Drop(_settings.Transport, "stopping");
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
            try
            {
                _sessions.OnNext(session);
            }
            catch (Exception ex)
            {
                Asio2Metrics.UserCodeFault(_settings.Transport);
                _settings.Logger.LogError(ex, "{Session}: a Sessions subscriber threw; closing this session only", session);
                session.Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
            }
        }
        session.Start();
        return true;
    }

    /// <summary>The server's socket failed: <c>Sessions</c> errors and every session closes.</summary>
    public void Fail(Exception error, string message)
    {
        Session[] sessions;
        lock (_lock)
        {
            if (_stopping) return;
            _stopping = _failed = true;
            sessions = _live.Values.ToArray();
            _sessions.OnError(error);
        }
        _settings.Logger.LogError(error, "{Transport} server: {Message}", _settings.Transport, message);
        Asio2Metrics.Error(_settings.Transport, "listener");
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

    /// <summary>Completes <c>Sessions</c> (unless it already errored).</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (!_failed) _sessions.OnCompleted();
        }
    }
}
