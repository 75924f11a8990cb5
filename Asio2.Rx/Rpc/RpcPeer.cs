using System.Buffers;
using System.Reactive;

namespace Asio2.Rx;

/// <summary>
/// RPC over one session: calls to the peer (<see cref="Call{T}"/>, <see cref="Stream{T}"/>, <see cref="Notify"/>) and the
/// dispatch of the peer's calls to the functions bound in its <see cref="RpcBindings"/>. Both sides of a connection are
/// peers; a server has one per session, a client one per connection.
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> Calls may be made from any thread. Responses, stream items, timeouts and the dispatch of
/// incoming calls run on the session's scheduler. Synchronous handlers run there too; a handler that returns a task or an
/// observable runs its continuation wherever that completes, and its reply is sent from there.</para>
/// <para><b>Failures.</b> A call ends with a value or an <see cref="RpcException"/>, exactly once. When the session closes,
/// every pending call fails at once with <see cref="RpcErrorKind.ConnectionLost"/>, and handlers still running see their
/// <see cref="CancellationToken"/> cancelled. A handler that throws is answered with <see cref="RpcErrorKind.RemoteException"/>;
/// the connection stays open. A message that does not decode closes the session with <see cref="CloseKind.ProtocolError"/>.</para>
/// </remarks>
public sealed partial class RpcPeer
{
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;

    private readonly RpcBindings _bindings;
    private readonly RpcSettings _settings;
    private readonly RpcWire _wire;
    private readonly MessagePackRpcWire? _messagePack;
    private readonly object _gate = new();
    private readonly Dictionary<ulong, PendingCall> _pending = new();
    private readonly int _maxFrameSize;
    private readonly int _largeMessage;
    private ulong _lastId;
    private RpcException? _closed;

    internal RpcPeer(Session session, RpcBindings bindings)
    {
        Session = session;
        _bindings = bindings;
        _settings = bindings.Settings;
        _wire = _settings.Wire;
        _messagePack = _wire as MessagePackRpcWire;
        _maxFrameSize = session.MaxMessageSize;
        _largeMessage = session.Settings.MaxSendQueueBytes / 4;
        session.Frames.Subscribe(OnFrame);
        session.Closed.Subscribe(OnClosed);
    }

    /// <summary>The session the calls travel on.</summary>
    public Session Session { get; }

    /// <summary>Calls made by this side that wait for their response.</summary>
    public int PendingCalls
    {
        get { lock (_gate) return _pending.Count; }
    }

    /// <summary>
    /// Calls <paramref name="method"/> on the peer. Cold: each subscription sends one request and receives the result
    /// (one value, then completion) or an <see cref="RpcException"/>. Unsubscribing before the response (e.g. through
    /// <c>Timeout</c>) forgets the call at once and, on MessagePack-RPC, sends <c>$/cancel [msgid]</c> so the peer can
    /// stop the work. The default timeout (<see cref="RpcOptions.DefaultTimeout"/>) runs on the session's scheduler.
    /// </summary>
    /// <typeparam name="T">The result type. For a function bound to return an <c>IObservable</c>, the result is its last item.</typeparam>
    /// <exception cref="NotSupportedException">An argument or <typeparamref name="T"/> cannot be sent on this peer's wire.</exception>
    public IObservable<T> Call<T>(string method, params object?[] args)
    {
        Check(method, args);
        _wire.CheckType(typeof(T));
        return new CallObservable<T>(this, method, args, streamed: false);
    }

    /// <summary>Calls a function that returns nothing: <see cref="Unit"/>, then completion, once the peer has run it.</summary>
    /// <exception cref="NotSupportedException">An argument cannot be sent on this peer's wire.</exception>
    public IObservable<Unit> Call(string method, params object?[] args)
    {
        Check(method, args);
        return new CallObservable<Unit>(this, method, args, streamed: false);
    }

    /// <summary>
    /// Calls a function bound to return an <c>IObservable</c> and receives every item it produces, then its completion or
    /// error. Flow control: the peer sends at most <see cref="RpcOptions.StreamWindow"/> items ahead of what this side has
    /// delivered. Unsubscribing stops the producer on the peer. No default timeout applies (apply <c>Timeout</c>).
    /// An extension of MessagePack-RPC (<c>$/stream</c>); a function that returns one value streams that value.
    /// </summary>
    /// <exception cref="NotSupportedException">The wire is asio2's, which has no streams; or a type cannot be sent.</exception>
    public IObservable<T> Stream<T>(string method, params object?[] args)
    {
        Check(method, args);
        if (_messagePack is null) throw new NotSupportedException("streamed results are an extension of MessagePack-RPC; asio2's wire has none");
        _wire.CheckType(typeof(T));
        return new CallObservable<T>(this, method, args, streamed: true);
    }

    /// <summary>Sends a notification: the peer runs the function and never answers (asio2: id 0).</summary>
    /// <exception cref="NotSupportedException">An argument cannot be sent on this peer's wire.</exception>
    public SendResult Notify(string method, params object?[] args)
    {
        Check(method, args);
        var span = StartCallSpan(method, out var trace);
        try
        {
            return Send(static (w, st) => st.wire.WriteRequest(w, 0, st.method, st.args, notification: true, st.trace), (wire: _wire, method, args, trace));
        }
        finally
        {
            EndSpan(span, null); // a notification's span ends when it is sent: nothing comes back
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"rpc peer on {Session}";

    private void Check(string method, object?[] args)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(args);
        foreach (var arg in args)
            if (arg is not null) _wire.CheckType(arg.GetType());
    }

    // ---- outgoing calls ----

    private void Start(PendingCall call, string method, object?[] args)
    {
        call.Span = StartCallSpan(method, out var trace);
        lock (_gate)
        {
            if (_closed is { } closed)
            {
                call.Fail(closed);
                return;
            }
            // msgpack-rpc ids are 32-bit; asio2's are 64-bit. Both skip 0 (asio2's notification id).
            do _lastId = _messagePack is null ? _lastId + 1 : (uint)(_lastId + 1);
            while (_lastId == 0 || _pending.ContainsKey(_lastId));
            call.Id = _lastId;
            _pending.Add(call.Id, call);
        }
        SendResult sent;
        try
        {
            sent = call.Streamed
                ? Send(static (w, st) => st.Item1._messagePack!.WriteStreamRequest(w, st.call.Id, st.method, st.Item1._settings.StreamWindow, st.args, st.trace), (this, call, method, args, trace))
                : Send(static (w, st) => st.Item1._wire.WriteRequest(w, st.call.Id, st.method, st.args, notification: false, st.trace), (this, call, method, args, trace));
        }
        catch (Exception ex)
        {
            if (TryRemove(call.Id, call)) call.Fail(new RpcException(RpcErrorKind.InvalidArguments, $"the arguments of '{method}' could not be encoded: {ex.Message}", null, ex));
            return;
        }
        if (sent.IsRejected)
        {
            if (TryRemove(call.Id, call)) call.Fail(ToRpcException(sent, method));
            return;
        }
        if (!call.Streamed && _settings.DefaultTimeout is { } timeout) StartTimeout(call, timeout);
    }

    /// <summary>The caller unsubscribed: forget the call and tell the peer.</summary>
    private void Abandon(PendingCall call)
    {
        if (!TryRemove(call.Id, call)) return;
        EndSpan(call.Span, null, cancelled: true);
        SendCancel(call.Id);
    }

    private void SendCancel(ulong id)
    {
        if (_messagePack is not null && Session.IsOpen)
            Send(static (w, st) => st.Item1.WriteControl(w, MessagePackRpcWire.CancelMethod, st.id, null), (_messagePack, id));
    }

    private bool TryRemove(ulong id, PendingCall call)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(id, out var found) || !ReferenceEquals(found, call)) return false;
            _pending.Remove(id);
            Done(call);
            return true;
        }
    }

    private PendingCall? Take(ulong id, bool remove)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(id, out var call)) return null;
            if (remove)
            {
                _pending.Remove(id);
                Done(call);
            }
            return call;
        }
    }

    private void OnResponse(in RpcMessage response)
    {
        // A response nobody waits for (timed out, cancelled, or made up) is dropped, as asio2 does.
        if (Take(response.Id, remove: true) is not { } call) return;
        if (response.HasError)
        {
            call.Fail(_wire.DecodeError(response));
            return;
        }
        call.Complete(this, response);
    }

    private void OnStreamItem(ulong id, ReadOnlyMemory<byte> item)
    {
        if (Take(id, remove: false) is { Streamed: true } call) call.Item(this, item);
    }

    /// <summary>The session ended: every pending call fails now, once.</summary>
    private void OnClosed(CloseReason reason)
    {
        PendingCall[] calls;
        var error = new RpcException(RpcErrorKind.ConnectionLost, $"the connection closed ({reason})", null, reason.Exception);
        lock (_gate)
        {
            _closed = error;
            calls = [.. _pending.Values];
            _pending.Clear();
            _deadlines.Clear();
        }
        foreach (var call in calls) call.Fail(error);
        StopIncoming();
    }

    private static RpcException ToRpcException(SendResult rejected, string method)
    {
        var ex = rejected.AsTask().Exception?.InnerException;
        return ex switch
        {
            SendRejectedException { Rejection: SendRejection.TooLarge } => new RpcException(RpcErrorKind.PayloadTooLarge, $"the request for '{method}' is larger than the connection allows: {ex.Message}", null, ex),
            SendRejectedException { Rejection: SendRejection.NotConnected } or SessionClosedException => new RpcException(RpcErrorKind.ConnectionLost, $"'{method}' could not be sent: {ex.Message}", null, ex),
            _ => new RpcException(RpcErrorKind.ConnectionLost, $"'{method}' could not be sent: {ex?.Message}", null, ex),
        };
    }

    /// <summary>Encodes one message and sends it as one frame. Messages over the framing's limit are refused here, also
    /// for framings without a header (the MessagePack-object framing), where the peer would close on them. Large
    /// messages go through <see cref="Session.SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, which waits for room
    /// in the send queue instead of overflowing it.</summary>
    private SendResult Send<TState>(Action<IBufferWriter<byte>, TState> write, TState state)
    {
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(256);
        t_buffer = null; // re-entrant sends (an in-memory peer answering inline) take their own buffer
        try
        {
            buffer.ResetWrittenCount();
            write(buffer, state);
            if (buffer.WrittenCount > _maxFrameSize)
                return SendResult.Failed(new SendRejectedException(SendRejection.TooLarge,
                    $"a message of {buffer.WrittenCount} bytes exceeds the maximum frame size {_maxFrameSize}"));
            if (buffer.WrittenCount <= _largeMessage) return Session.Send(buffer.WrittenSpan);
            SendLarge(buffer.WrittenSpan.ToArray());
            return default;
        }
        finally
        {
            if (buffer.Capacity <= 64 * 1024) t_buffer = buffer; // do not keep a 10 MiB buffer per thread
        }
    }

    private void SendLarge(byte[] message)
    {
        var sending = Session.SendAsync(message);
        if (sending.IsCompletedSuccessfully) return;
        // A failure here means the session is closing: its calls fail through OnClosed, so only observe it.
        _ = sending.AsTask().ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>One call this side made, waiting for its response (or, streamed, for items and the final response).</summary>
    private abstract class PendingCall(RpcPeer peer, bool streamed) : IDisposable
    {
        public ulong Id { get; set; }
        public bool Streamed => streamed;

        /// <summary>Removed from the pending table (answered, failed, abandoned). Under the peer's lock.</summary>
        public bool IsDone { get; set; }

        /// <summary>When the default timeout fails the call (scheduler ticks).</summary>
        public long Deadline { get; set; }

        /// <summary>The call's client span, when someone listens.</summary>
        public System.Diagnostics.Activity? Span { get; set; }

        /// <summary>The subscription to the call: disposing it before the response forgets the call.</summary>
        public void Dispose() => peer.Abandon(this);

        public abstract void Complete(RpcPeer peer, in RpcMessage response);
        public abstract void Item(RpcPeer peer, ReadOnlyMemory<byte> item);
        public abstract void Fail(RpcException error);
    }

    private sealed class PendingCall<T>(RpcPeer peer, IObserver<T> observer, bool streamed) : PendingCall(peer, streamed)
    {
        private int _sinceAck;

        public override void Complete(RpcPeer peer, in RpcMessage response)
        {
            if (Streamed || typeof(T) == typeof(Unit))
            {
                EndSpan(Span, null);
                if (!Streamed) observer.OnNext((T)(object)Unit.Default);
                observer.OnCompleted();
                return;
            }
            T value;
            try
            {
                value = (T)peer._wire.DecodeResult(response, typeof(T))!;
            }
            catch (Exception ex)
            {
                Fail(new RpcException(RpcErrorKind.ProtocolViolation, $"the result is not a {typeof(T).Name}: {ex.Message}", null, ex));
                return;
            }
            EndSpan(Span, null);
            observer.OnNext(value);
            observer.OnCompleted();
        }

        public override void Item(RpcPeer peer, ReadOnlyMemory<byte> item)
        {
            T value;
            try
            {
                value = (T)peer._messagePack!.DecodeValue(item, typeof(T))!;
            }
            catch (Exception ex)
            {
                if (peer.TryRemove(Id, this))
                {
                    peer.SendCancel(Id);
                    Fail(new RpcException(RpcErrorKind.ProtocolViolation, $"a streamed item is not a {typeof(T).Name}: {ex.Message}", null, ex));
                }
                return;
            }
            observer.OnNext(value);
            // Delivered: grant the producer more room every half window.
            if (++_sinceAck >= peer._settings.StreamWindow / 2 && peer.Take(Id, remove: false) == this)
            {
                int n = _sinceAck;
                _sinceAck = 0;
                peer.Send(static (w, st) => st.Item1.WriteControl(w, MessagePackRpcWire.AckMethod, st.Id, st.n), (peer._messagePack!, Id, n));
            }
        }

        public override void Fail(RpcException error)
        {
            EndSpan(Span, error.Kind);
            observer.OnError(error);
        }
    }

    /// <summary>The cold observable <see cref="Call{T}"/> returns: each subscription is one call.</summary>
    private sealed class CallObservable<T>(RpcPeer peer, string method, object?[] args, bool streamed) : IObservable<T>
    {
        public IDisposable Subscribe(IObserver<T> observer)
        {
            ArgumentNullException.ThrowIfNull(observer);
            var call = new PendingCall<T>(peer, observer, streamed);
            peer.Start(call, method, args);
            return call;
        }
    }
}
