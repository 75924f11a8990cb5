using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// Request/response matching for protocols the application owns, on any session (asio2's "rdc"): send a request and
/// receive the frame that answers it, matched by an id the application extracts from both directions.
/// </summary>
public static class SessionRequests
{
    private static readonly ConditionalWeakTable<Session, ConcurrentDictionary<Delegate, object>> s_matchers = new();

    /// <summary>
    /// Sends <paramref name="payload"/> as one frame and returns the reply: the first incoming frame for which
    /// <paramref name="incomingId"/> returns the id <paramref name="outgoingId"/> gave the payload. Cold: each subscription
    /// sends once. Every incoming frame, matched or not, still reaches <see cref="Session.Frames"/>.
    /// </summary>
    /// <remarks>
    /// Unsubscribing (e.g. <c>Timeout</c>) forgets the request at once; a late reply is then an ordinary frame. When the
    /// session closes, pending requests fail with <see cref="RpcException"/> of kind <see cref="RpcErrorKind.ConnectionLost"/>.
    /// Requests sharing one <paramref name="incomingId"/> delegate share one matcher per session; use the same delegate
    /// (a static lambda or a field) for all of them. <paramref name="incomingId"/> runs on the session's scheduler for every
    /// frame and returns null (for value-type ids: a value no request uses) for frames that are not replies. Subscribe before the reply can arrive: the matcher starts
    /// listening at the first request.
    /// </remarks>
    /// <exception cref="InvalidOperationException">(On subscription) a request with the same id is already pending.</exception>
    public static IObservable<Frame> Request<TKey>(this Session session, ReadOnlyMemory<byte> payload,
        Func<ReadOnlyMemory<byte>, TKey> outgoingId, Func<Frame, TKey?> incomingId) where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(outgoingId);
        ArgumentNullException.ThrowIfNull(incomingId);
        var matchers = s_matchers.GetValue(session, static _ => new ConcurrentDictionary<Delegate, object>());
        var matcher = (Matcher<TKey>)matchers.GetOrAdd(incomingId, static (d, s) => new Matcher<TKey>(s, (Func<Frame, TKey?>)d), session);
        return new RequestObservable<TKey>(matcher, payload, outgoingId);
    }

    /// <summary>Pending requests of one session by id, fed by one subscription to its frames.</summary>
    private sealed class Matcher<TKey> where TKey : notnull
    {
        private readonly Dictionary<TKey, IObserver<Frame>> _pending = new();
        private readonly Session _session;
        private readonly Func<Frame, TKey?> _incomingId;
        private RpcException? _closed;

        public Matcher(Session session, Func<Frame, TKey?> incomingId)
        {
            _session = session;
            _incomingId = incomingId;
            session.Frames.Subscribe(OnFrame);
            session.Closed.Subscribe(OnClosed);
        }

        public int Count
        {
            get { lock (_pending) return _pending.Count; }
        }

        public IDisposable Send(TKey id, ReadOnlyMemory<byte> payload, IObserver<Frame> observer)
        {
            lock (_pending)
            {
                if (_closed is not null)
                {
                    observer.OnError(_closed);
                    return System.Reactive.Disposables.Disposable.Empty;
                }
                if (!_pending.TryAdd(id, observer)) throw new InvalidOperationException($"a request with id {id} is already pending on {_session}");
            }
            var sent = _session.Send(payload.Span);
            if (sent.IsRejected && Remove(id, observer))
                observer.OnError(sent.AsTask().Exception!.InnerException!);
            return System.Reactive.Disposables.Disposable.Create(() => Remove(id, observer));
        }

        private bool Remove(TKey id, IObserver<Frame> observer)
        {
            lock (_pending)
                return _pending.TryGetValue(id, out var found) && ReferenceEquals(found, observer) && _pending.Remove(id);
        }

        private void OnFrame(Frame frame)
        {
            if (_incomingId(frame) is not { } id) return;
            IObserver<Frame>? observer;
            lock (_pending)
            {
                if (!_pending.Remove(id, out observer)) return;
            }
            observer.OnNext(frame);
            observer.OnCompleted();
        }

        private void OnClosed(CloseReason reason)
        {
            IObserver<Frame>[] observers;
            lock (_pending)
            {
                _closed = new RpcException(RpcErrorKind.ConnectionLost, $"the connection closed before the reply ({reason})", null, reason.Exception);
                observers = [.. _pending.Values];
                _pending.Clear();
            }
            foreach (var o in observers) o.OnError(_closed);
        }
    }

    private sealed class RequestObservable<TKey>(Matcher<TKey> matcher, ReadOnlyMemory<byte> payload, Func<ReadOnlyMemory<byte>, TKey> outgoingId)
        : IObservable<Frame> where TKey : notnull
    {
        public IDisposable Subscribe(IObserver<Frame> observer) => matcher.Send(outgoingId(payload), payload, observer);
    }

    /// <summary>Requests waiting for their reply on <paramref name="session"/> through <paramref name="incomingId"/>'s matcher (for tests).</summary>
    internal static int PendingCount<TKey>(Session session, Func<Frame, TKey?> incomingId) where TKey : notnull =>
        s_matchers.TryGetValue(session, out var m) && m.TryGetValue(incomingId, out var matcher) ? ((Matcher<TKey>)matcher).Count : 0;
}
