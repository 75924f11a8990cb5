using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

// The serving side: incoming requests and notifications, run against the bound functions, answered.
public sealed partial class RpcPeer
{
    private readonly CancellationTokenSource _lifetime = new();
    private readonly HashSet<Running> _running = new(); // under _gate
    private readonly Queue<RpcMessage> _waiting = new(); // scheduler only
    private int _inFlight; // scheduler only
    private IDisposable? _readHold; // scheduler only

    /// <summary>Handler calls (asynchronous ones and streams) running now.</summary>
    internal int RunningCalls
    {
        get { lock (_gate) return _running.Count; }
    }

    private void OnFrame(Frame frame)
    {
        RpcMessage message;
        try
        {
            message = _wire.Decode(frame.Data);
            if (message.Kind == RpcMessageKind.Response)
            {
                OnResponse(message);
                return;
            }
            if (message.Kind == RpcMessageKind.Notification && _messagePack is not null && message.Method.StartsWith("$/", StringComparison.Ordinal))
            {
                OnControl(message);
                return;
            }
        }
        catch (RpcProtocolException ex)
        {
            Asio2Log.RpcMessageRefused(Session.Logger, ex, Session, ex.Message);
            Session.Shutdown(new CloseReason(CloseKind.ProtocolError, ex, ex.Message), graceful: false);
            return;
        }
        if (_inFlight >= _settings.MaxConcurrentCalls)
        {
            // Every slot is busy: park the request (frames are immutable, so keeping it is safe). With as many parked as
            // running, take read credit: the session reads nothing more and further requests wait in the peer's socket.
            // Reading goes on until then so that responses to this side's own calls (which running handlers may be
            // awaiting) still arrive.
            _waiting.Enqueue(message);
            if (_waiting.Count >= _settings.MaxConcurrentCalls) _readHold ??= Session.HoldReading();
            return;
        }
        Dispatch(message);
    }

    private void OnControl(in RpcMessage message)
    {
        ulong id = MessagePackRpcWire.ReadControl(message.Body, out int count, out var second);
        switch (message.Method)
        {
            case MessagePackRpcWire.CancelMethod:
                FindRunning(id)?.Cancel();
                break;
            case MessagePackRpcWire.AckMethod:
                (FindRunning(id) as StreamProducer)?.Ack(count);
                break;
            case MessagePackRpcWire.NextMethod:
                OnStreamItem(id, second);
                break;
            // Other "$/" notifications are extensions this version does not know: ignored, as the spec's notifications may be.
        }
    }

    private Running? FindRunning(ulong id)
    {
        lock (_gate)
        {
            foreach (var r in _running)
                if (r.Id == id && r.HasId) return r;
            return null;
        }
    }

    private void Dispatch(RpcMessage message)
    {
        bool streamed = false;
        int window = 0;
        if (_messagePack is not null && message.Kind == RpcMessageKind.Request && message.Method == MessagePackRpcWire.StreamMethod)
        {
            try
            {
                message = _messagePack.DecodeStreamRequest(message, out window);
                streamed = true;
            }
            catch (Exception ex)
            {
                ReplyError(message, RpcErrorKind.InvalidArguments, ex.Message);
                return;
            }
        }
        if (StartServeSpan(message) is { } span) message = message with { Span = span };
        var binding = _bindings.Find(message.Method);
        if (binding is null)
        {
            ReplyError(message, RpcErrorKind.MethodNotFound, $"no function is bound as '{message.Method}'");
            return;
        }
        var args = new object?[binding.ParameterCount];
        try
        {
            _wire.DecodeArguments(message, binding, args);
        }
        catch (Exception ex)
        {
            ReplyError(message, RpcErrorKind.InvalidArguments, ex is RpcArgumentException ? ex.Message : $"'{binding.Name}': {ex.Message}");
            return;
        }
        Running? running = binding.Shape == RpcResultShape.Immediate ? null
            : streamed ? new StreamProducer(this, message, binding.ResultType!, window)
            : new Running(this, message, binding.ResultType);
        var token = running is not null && binding.UsesCancellation ? running.CreateToken(_lifetime.Token) : _lifetime.Token;
        for (int i = 0; i < args.Length; i++)
        {
            switch (binding.Injections[i])
            {
                case RpcInjection.Peer: args[i] = this; break;
                case RpcInjection.Session: args[i] = Session; break;
                case RpcInjection.Cancellation: args[i] = token; break;
            }
        }

        object? result;
        // The call's span is current while the function runs (its continuations keep it).
        System.Diagnostics.Activity? previous = null;
        if (message.Span is { } current)
        {
            previous = System.Diagnostics.Activity.Current;
            System.Diagnostics.Activity.Current = current;
        }
        try
        {
            result = binding.Invoke(args);
        }
        catch (Exception ex)
        {
            running?.Dispose();
            ReplyException(message, ex);
            return;
        }
        finally
        {
            if (message.Span is not null) System.Diagnostics.Activity.Current = previous;
        }

        switch (binding.Shape)
        {
            case RpcResultShape.Immediate:
                if (streamed) ReplySingleItem(message, result, binding.ResultType);
                else ReplyResult(message, result, binding.ResultType);
                return;
            case RpcResultShape.Task:
                var task = (Task)result!;
                if (task.IsCompleted)
                {
                    running!.Dispose();
                    CompleteTask(message, binding, task, streamed);
                    return;
                }
                Track(running!);
                task.ContinueWith(static (t, state) =>
                {
                    var (running, binding, streamed) = ((Running, RpcBinding, bool))state!;
                    if (running.TryFinish()) running.Peer.CompleteTask(running.Request, binding, t, streamed);
                }, (running!, binding, streamed), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return;
            default:
                Track(running!);
                running!.Subscribe((IObservable<object?>)result!);
                return;
        }
    }

    private void Track(Running running)
    {
        lock (_gate)
        {
            if (_closed is not null)
            {
                running.Cancel();
                return;
            }
            _running.Add(running);
        }
        _inFlight++;
    }

    /// <summary>A tracked call ended (answered, cancelled, or the session closed): free its slot, on the scheduler.</summary>
    private void Release(Running running)
    {
        bool tracked;
        lock (_gate) tracked = _running.Remove(running);
        if (!tracked) return;
        Session.Scheduler.Schedule(this, static (_, peer) =>
        {
            peer._inFlight--;
            while (peer._inFlight < peer._settings.MaxConcurrentCalls && peer._waiting.TryDequeue(out var next) && peer.Session.IsOpen)
                peer.Dispatch(next);
            if (peer._waiting.Count < peer._settings.MaxConcurrentCalls && peer._readHold is { } hold)
            {
                peer._readHold = null;
                hold.Dispose();
            }
            return Disposable.Empty;
        });
    }

    /// <summary>The session closed: cancel what is running, drop what waits.</summary>
    private void StopIncoming()
    {
        Running[] running;
        lock (_gate)
        {
            running = [.. _running];
            _running.Clear();
        }
        _lifetime.Cancel();
        foreach (var r in running) r.Cancel();
        _waiting.Clear();
        _readHold?.Dispose();
        _readHold = null;
    }

    private void CompleteTask(in RpcMessage message, RpcBinding binding, Task task, bool streamed)
    {
        if (task.IsFaulted || task.IsCanceled)
        {
            ReplyException(message, task.Exception?.InnerException ?? new TaskCanceledException(task));
            return;
        }
        var value = binding.GetTaskResult?.Invoke(task);
        if (streamed) ReplySingleItem(message, value, binding.ResultType);
        else ReplyResult(message, value, binding.ResultType);
    }

    private void ReplySingleItem(in RpcMessage message, object? value, Type? type)
    {
        if (type is not null)
            Send(static (w, st) => st.Item1.WriteStreamItem(w, st.Id, st.value, st.type), (_messagePack!, message.Id, value, type));
        ReplyResult(message, null, null);
    }

    private void ReplyResult(in RpcMessage request, object? result, Type? resultType)
    {
        if (request.Kind == RpcMessageKind.Notification)
        {
            EndSpan(request.Span, null);
            return;
        }
        SendResult sent;
        try
        {
            sent = Send(static (w, st) => st.Item1.WriteResult(w, st.request, st.result, st.resultType), (_wire, request, result, resultType));
        }
        catch (Exception ex)
        {
            ReplyError(request, RpcErrorKind.RemoteException, $"the result of '{request.Method}' could not be encoded: {ex.Message}", ex.GetType().FullName);
            return;
        }
        if (sent.IsRejected && sent.AsTask().Exception?.InnerException is SendRejectedException { Rejection: SendRejection.TooLarge } tooLarge)
            ReplyError(request, RpcErrorKind.PayloadTooLarge, $"the result of '{request.Method}' is too large: {tooLarge.Message}");
        else EndSpan(request.Span, null);
    }

    private void ReplyException(in RpcMessage request, Exception ex)
    {
        if (ex is TargetInvocationException { InnerException: { } inner }) ex = inner;
        Asio2Log.RpcFunctionFailed(Session.Logger, ex, Session, request.Method);
        ReplyError(request, RpcErrorKind.RemoteException, _settings.IncludeExceptionDetails ? ex.ToString() : ex.Message, ex.GetType().FullName);
    }

    private void ReplyError(in RpcMessage request, RpcErrorKind kind, string message, string? remoteType = null)
    {
        EndSpan(request.Span, kind);
        if (request.Kind == RpcMessageKind.Notification) return;
        Send(static (w, st) => st.Item1.WriteError(w, st.request, st.kind, st.message, st.remoteType), (_wire, request, kind, message, remoteType));
    }

    /// <summary>
    /// A handler call that outlives its dispatch (a task, an observable): cancelled by <c>$/cancel</c> or the session's end,
    /// finished exactly once, and counted against <see cref="RpcOptions.MaxConcurrentCalls"/> while it runs.
    /// </summary>
    private class Running(RpcPeer peer, RpcMessage request, Type? resultType) : IObserver<object?>, IDisposable
    {
        private readonly SingleAssignmentDisposable _subscription = new();
        private CancellationTokenSource? _cts;
        private int _finished;
        private object? _last;

        public RpcPeer Peer => peer;
        public RpcMessage Request => request;
        public ulong Id => request.Id;
        public bool HasId => request.Kind == RpcMessageKind.Request;

        public CancellationToken CreateToken(CancellationToken lifetime)
        {
            _cts = CancellationTokenSource.CreateLinkedTokenSource(lifetime);
            return _cts.Token;
        }

        public virtual void Subscribe(IObservable<object?> source) => _subscription.Disposable = source.Subscribe(this);

        /// <summary>True for the one caller that gets to finish the call; frees its slot.</summary>
        public bool TryFinish()
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0) return false;
            peer.Release(this);
            _cts?.Dispose();
            return true;
        }

        /// <summary>Stops the call without answering: the caller gave up, or the connection is gone.</summary>
        public void Cancel()
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0) return;
            peer.Release(this);
            try { _cts?.Cancel(); }
            catch (AggregateException) { /* a cancellation callback threw; the call is over either way */ }
            _subscription.Dispose();
            EndSpan(request.Span, null, cancelled: true);
            OnCancelled();
        }

        /// <summary>Never tracked (the handler failed or finished synchronously).</summary>
        public void Dispose() => _cts?.Dispose();

        protected bool IsFinished => Volatile.Read(ref _finished) != 0;

        protected virtual void OnCancelled() { }

        // A plain call to an observable-returning function: the answer is its last item.
        public virtual void OnNext(object? value) => _last = value;

        public virtual void OnError(Exception error)
        {
            if (TryFinish()) peer.ReplyException(request, error);
        }

        public virtual void OnCompleted()
        {
            if (TryFinish()) peer.ReplyResult(request, _last, resultType);
        }
    }
}
