using System.Buffers;
using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

/// <summary>
/// A session over a byte stream (TCP, TLS, serial, in-memory): one read loop that cuts the stream into frames
/// with the session's <see cref="Framing"/>, and the shared send queue writing coalesced batches.
/// </summary>
/// <remarks>
/// <para><b>The read loop</b> runs on the session's scheduler (asio2's strand), with every kind of scheduler alike
/// (event loops, the thread pool, a <c>TestScheduler</c>): an asynchronous receive resumes there, each read's frames
/// are delivered inline, and the next receive is issued from the loop after the subscribers returned, so at most one
/// read waits for them. On the pool's <see cref="SocketLoop"/> a socket receive completes on the loop thread itself
/// (<see cref="SocketChannel"/>) and the loop goes on without a hop; under other schedulers a receive completes on
/// .NET's socket threads and the loop hops back (one hop per asynchronous completion). Only
/// <c>ImmediateScheduler</c>, which has no thread of its own, runs the loop on whichever thread completes the receive.</para>
/// <para><b>Credit.</b> While reading is held (<see cref="Session.HoldReading"/>) no receive is issued; the loop waits
/// and is resumed on the scheduler when the last hold is released.</para>
/// <para><b>Idle sessions hold no buffer.</b> When a read drained the socket, the next one waits for data with a
/// zero-byte receive (as Kestrel does) and rents the receive buffer only when data is there.</para>
/// <para><b>Hand-over.</b> <see cref="Session.DetachAsync"/> stops delivery after the current frame; the loop gathers
/// the bytes read but not delivered, stops, and the session closes with <see cref="CloseKind.Upgraded"/> without
/// closing the transport, whose stream goes to the new owner.</para>
/// </remarks>
internal sealed class StreamSession : Session, IValueTaskSource
{
    private readonly Transport _transport;
    private readonly FrameDecoder _decoder;
    private readonly CancellationTokenSource _cts = new();
    private readonly bool _immediate;

    // Batches and bytes delivered inline in a row before the loop gives the scheduler back to other sessions. Small:
    // the saving is the cross-thread hop, not running long. tcp-echo (100 sessions on one loop) kept the pool's
    // fairness with 1 or 2 batches (clients 0.99..1.02x, p99 17-27 ms as before) and lost it with 16 batches /
    // 256 KiB (0.88..1.09x, p99 ~100 ms); 2 keeps two reads that arrive together in one turn.
    private const int YieldBatches = 2;
    private const int YieldBytes = 32 * 1024;

    // While reads keep filling the receive buffer, each regrowth doubles it up to this (or up to ReceiveBufferSize, if
    // that is larger), as Netty's adaptive allocator does: a busy connection then takes more per read (fewer receives,
    // larger batches, larger coalesced writes). An idle session returns it and starts again from ReceiveBufferSize.
    private const int MaxAdaptiveBufferSize = 64 * 1024;

    // The read loop's state; touched only by the loop.
    private byte[]? _buffer;       // null while idle (rent on data)
    private int _bufferSize;       // the size to rent: ReceiveBufferSize, doubled while reads fill the buffer
    private int _start, _end;      // _buffer[_start.._end): received, not yet framed
    private bool _moreWaiting;     // the last read filled the buffer: read again without waiting for data first
    private bool _onLoop;          // the loop runs in a work item of the scheduler now
    private int _turnBatches, _turnBytes;

    // Resuming the loop on the scheduler.
    private readonly Action? _resumeAfterReceive;
    private Action? _continuation;
    private ValueTask<int> _receive;
    private ManualResetValueTaskSourceCore<bool> _readable; // the loop waits for a hold to be released
    private int _waitingForCredit;

    // Hand-over.
    private TaskCompletionSource<DetachedConnection>? _detach;
    private DetachedConnection? _handedOver;

    public StreamSession(Transport transport, SessionSettings settings, IScheduler scheduler)
        : base(settings, scheduler)
    {
        _transport = transport;
        _decoder = settings.Framing.CreateDecoder();
        _bufferSize = settings.ReceiveBufferSize;
        _immediate = ReferenceEquals(scheduler, ImmediateScheduler.Instance);
        _onLoop = _immediate;
        if (!_immediate) _resumeAfterReceive = ResumeAfterReceive;
    }

    /// <summary>The default <see cref="StreamSessionFactory"/>.</summary>
    public static Session Create(Transport transport, SessionSettings settings, IScheduler scheduler) => new StreamSession(transport, settings, scheduler);

    /// <summary>A session over a connection detached from another one, pinned to the same scheduler; it reads
    /// <see cref="DetachedConnection.Buffered"/> first.</summary>
    public static Session Attach(DetachedConnection connection, SessionSettings settings, StreamSessionFactory? factory = null) =>
        (factory ?? Create)(connection.ToTransport(settings.Transport), settings, connection.Scheduler);

    internal Transport TransportLayer => _transport;

    /// <summary>This session's decoder: protocol layers with a stateful framing (HTTP) read what it decoded.</summary>
    internal FrameDecoder Decoder => _decoder;

    public override EndPoint? LocalEndPoint => _transport.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _transport.RemoteEndPoint;

    /// <summary>True while the loop holds a receive buffer (an idle session holds none).</summary>
    internal bool HasReceiveBuffer => Volatile.Read(ref _buffer) is not null;

    /// <summary>The receive buffer's length, 0 while idle; read it on the session's scheduler (a frame handler).</summary>
    internal int ReceiveBufferLength => _buffer?.Length ?? 0;

    private protected override void StartTransport() => _ = ReadLoopAsync();

    private protected override ValueTask WriteAsync(ReadOnlyMemory<byte> batch) => _transport.SendAsync(batch, _cts.Token);

    private protected override CloseReason ClassifyError(Exception ex) => _transport.Classify(ex);

    // A byte stream may be written in pieces of any size: a write rate limit splits batches at its budget.
    private protected override bool CanSplitWrites => true;

    private protected override void CloseTransport(bool abortive)
    {
        if (!abortive && _handedOver is not null)
        {
            // Detached: the stream belongs to the new owner now; the session only lets go of it.
            _detach!.TrySetResult(_handedOver);
            return;
        }
        if (abortive) _transport.Abort();
        else _transport.Shutdown();
        _cts.Cancel();
        _transport.Dispose();
        _detach?.TrySetException(new InvalidOperationException($"The session closed before it could be detached ({CloseReason})."));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadLoopAsync()
    {
        try
        {
            await _transport.StartAsync(this, _cts.Token).ConfigureAwait(false);
            while (true)
            {
                if (IsReadingStopped && _detach is null) await WaitUntilResumedAsync().ConfigureAwait(false);
                if (_detach is not null)
                {
                    HandOver();
                    return;
                }
                if (!IsOpen) return;
                if (_buffer is null && !_moreWaiting && _transport.SupportsZeroByteReads)
                {
                    // Idle: wait for data without a buffer, then check the credit again before reading it.
                    await OnLoop(_transport.ReceiveAsync(Memory<byte>.Empty, _cts.Token));
                    _moreWaiting = true;
                    continue;
                }
                var free = await FreeSpaceAsync().ConfigureAwait(false);
                if (!IsOpen) return;
                int read = await OnLoop(_transport.ReceiveAsync(free, _cts.Token));
                if (read == 0)
                {
                    EndOfStream();
                    return;
                }
                _end += read;
                _moreWaiting = read == free.Length;
                OnBytesReceived(read);
                if (_detach is null) CutAndDeliver();
                _turnBatches++;
                _turnBytes += read;
            }
        }
        catch (FrameException fe)
        {
            var (reason, drop) = FrameCutter.Classify(fe);
            Settings.Metrics.Drop(Transport, drop);
            // Frames before the bad bytes were delivered; replies to them still go out before the close (asio2 does the same).
            ShutdownAfterPendingFrames(reason, graceful: true);
        }
        catch (Exception ex)
        {
            if (IsOpen) Shutdown(ClassifyError(ex), graceful: false);
        }
        finally
        {
            ReturnBuffer();
        }
    }

    /// <summary>The buffer's free space for the next read: rented on data, compacted or grown when full, and no larger
    /// than the read rate limit's budget (the rest waits in the kernel, and flow control slows the peer).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Memory<byte>> FreeSpaceAsync()
    {
        int limit = Settings.Framing.MaxEncodedFrameSize;
        _buffer ??= ReceiveBuffers.Rent(Math.Min(_bufferSize, Math.Max(limit, 256)));
        if (_end == _buffer.Length)
        {
            int size = _buffer.Length;
            if (_start == 0)
            {
                // One frame fills the buffer: grow, but never past what one legal frame can take.
                if (size >= limit) throw new FrameException(FrameError.TooLarge, $"no frame fits in {limit} bytes");
                size = (int)Math.Min((long)size * 2, limit);
            }
            else if (_moreWaiting && size < Math.Min(MaxAdaptiveBufferSize, limit))
            {
                // Reads fill the buffer: take more per read from now on.
                size = _bufferSize = Math.Min(size * 2, Math.Min(MaxAdaptiveBufferSize, limit));
            }
            int left = _end - _start;
            if (size == _buffer.Length)
            {
                // Move the partial frame to the front.
                _buffer.AsSpan(_start, left).CopyTo(_buffer);
            }
            else
            {
                var grown = ReceiveBuffers.Rent(size);
                _buffer.AsSpan(_start, left).CopyTo(grown);
                ReceiveBuffers.Return(_buffer);
                _buffer = grown;
            }
            _start = 0;
            _end = left;
        }
        var free = _buffer.AsMemory(_end);
        if (ReadLimit is not { } budget) return free;
        if (budget.Available <= 0)
        {
            // The bucket's timer runs on the session's scheduler and resumes the loop inline there.
            var wait = budget.WaitAsync(free.Length);
            if (!wait.IsCompleted)
            {
                await wait.ConfigureAwait(false);
                NewTurn();
            }
        }
        return free[..(int)Math.Clamp(budget.Available, 1, free.Length)];
    }

    /// <summary>Cuts every complete frame in the buffer and delivers them at once, on the scheduler (the loop runs in
    /// one of its work items). A framing error is thrown after the frames before it were delivered, unless a handler
    /// detached the session meanwhile: then the bytes belong to the next owner.</summary>
    private void CutAndDeliver()
    {
        var bounds = new FrameBoundsList();
        int consumed = FrameCutter.Cut(_decoder, _buffer!, _start, _end, ref bounds, out var error);
        if (bounds.Count > 0) DeliverOnScheduler(bounds.ToBatch(this, _buffer!, _start, consumed));
        _start += consumed;
        if (error is not null && _detach is null) ExceptionDispatchInfo.Throw(error);
        if (_start == _end)
        {
            _start = _end = 0;
            if (!_moreWaiting && _transport.SupportsZeroByteReads) ReturnBuffer();
        }
    }

    /// <summary>The peer closed its side: the framing may take a last frame from what is left, then the session closes
    /// behind the frames already queued.</summary>
    private void EndOfStream()
    {
        int left = _end - _start;
        if (left > 0 && _decoder.TryDecodeFinal(_buffer.AsMemory(_start, left), out var last))
        {
            var bounds = new FrameBoundsList();
            bounds.Add(last.PayloadOffset, last.PayloadLength, last.Consumed);
            DeliverOnScheduler(bounds.ToBatch(this, _buffer!, _start, last.Consumed));
        }
        string? note = left > 0 ? $"the peer closed with {left} bytes of an incomplete frame" : null;
        ShutdownAfterPendingFrames(new CloseReason(CloseKind.RemoteClose, null, note), graceful: true);
    }

    private void ReturnBuffer()
    {
        if (_buffer is null) return;
        ReceiveBuffers.Return(_buffer);
        Volatile.Write(ref _buffer, null);
        _start = _end = 0;
        _bufferSize = Settings.ReceiveBufferSize;
    }

    private void NewTurn()
    {
        _onLoop = true;
        _turnBatches = _turnBytes = 0;
    }

    // ---- credit ----

    /// <summary>Waits, without a receive in flight, until reading is no longer held (or the session ends or is being
    /// detached). Resumed inline by the release's work item on the scheduler: a new turn on the loop.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitUntilResumedAsync()
    {
        _readable.Reset();
        Volatile.Write(ref _waitingForCredit, 1);
        // Re-check after publishing: the last hold may have gone in between.
        if (!IsReadingStopped || !IsOpen || _detach is not null) OnReadingResumed();
        await new ValueTask(this, _readable.Version).ConfigureAwait(false);
        NewTurn();
    }

    private protected override void OnReadingResumed()
    {
        if (Interlocked.Exchange(ref _waitingForCredit, 0) == 1) _readable.SetResult(true);
    }

    // The credit wait completes inline on the releasing thread (a Task would hop to the thread pool under a
    // synchronization context, and a virtual-time test would lose the resumption).
    void IValueTaskSource.GetResult(short token) => _readable.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _readable.GetStatus(token);
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _readable.OnCompleted(continuation, state, token, flags);

    // ---- hand-over ----

    private protected override Task<DetachedConnection> DetachCoreAsync()
    {
        var detach = new TaskCompletionSource<DetachedConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _detach, detach, null) is not null)
            throw new InvalidOperationException("The session is already being detached.");
        if (!IsOpen) detach.TrySetException(new InvalidOperationException($"The session is closed ({CloseReason})."));
        StopDelivery();
        // A loop waiting for a hold to be released hands over next, on the scheduler: not from inside this call,
        // which may come from a handler in the middle of delivering the held frames. One in a receive hands over
        // when the receive completes.
        Scheduler.Schedule(this, static (_, s) =>
        {
            s.OnReadingResumed();
            return Disposable.Empty;
        });
        return detach.Task;
    }

    /// <summary>On the loop: gathers the bytes read but not delivered, gives the stream to the new owner, and closes
    /// the session (queued sends are written first) with <see cref="CloseKind.Upgraded"/>.</summary>
    private void HandOver()
    {
        if (!IsOpen) return; // CloseTransport already failed the detach
        var buffered = TakeUndeliveredBytes(_buffer.AsSpan(_start, _end - _start));
        ReturnBuffer();
        try
        {
            var stream = _transport.Detach();
            _handedOver = new DetachedConnection(stream, buffered, LocalEndPoint, RemoteEndPoint, Scheduler, (_transport as TlsTransport)?.Info);
        }
        catch (Exception ex)
        {
            _detach!.TrySetException(ex);
            Shutdown(new CloseReason(CloseKind.LocalAbort, ex, ex.Message), graceful: false);
            return;
        }
        Shutdown(new CloseReason(CloseKind.Upgraded), graceful: true);
    }

    // ---- resuming on the scheduler ----

    /// <summary>Awaits <paramref name="receive"/> so that the loop goes on in a work item of the scheduler.</summary>
    private LoopHop OnLoop(ValueTask<int> receive) => new(this, receive);

    private void ResumeAfterReceive()
    {
        if (_receive.IsCompletedSuccessfully)
        {
            // Completed on the loop thread itself (a SocketChannel): a new turn, without a hop.
            if (Scheduler is SocketLoop { IsCurrent: true }) ContinueInNewTurn();
            else ScheduleContinuation();
        }
        else
        {
            // A failed receive ends the loop: it closes the session from here, without a hop.
            var continuation = _continuation!;
            _continuation = null;
            continuation();
        }
    }

    private void ContinueInNewTurn()
    {
        var continuation = _continuation!;
        _continuation = null;
        NewTurn();
        continuation();
    }

    private void ScheduleContinuation()
    {
        try
        {
            Scheduler.Schedule(this, static (_, s) =>
            {
                s.ContinueInNewTurn();
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException)
        {
            // The scheduler is gone (its pool was disposed): finish the loop off it; the session closes next.
            ThreadPool.UnsafeQueueUserWorkItem(static s =>
            {
                var continuation = s._continuation!;
                s._continuation = null;
                continuation();
            }, this, preferLocal: false);
        }
    }

    /// <summary>
    /// Resumes the read loop in a work item of the session's scheduler: after the receive completes (inline when it
    /// completed on the loop thread, else one hop), or at once when it completed already and the loop may not go on
    /// inline (it is not on the scheduler yet, or it used up its turn). With <c>ImmediateScheduler</c> it is a plain await.
    /// </summary>
    private readonly struct LoopHop(StreamSession session, ValueTask<int> receive) : ICriticalNotifyCompletion
    {
        public LoopHop GetAwaiter() => this;

        public bool IsCompleted => session._immediate
            ? receive.IsCompleted
            : receive.IsCompletedSuccessfully && session._onLoop
              && session._turnBatches < YieldBatches && session._turnBytes < YieldBytes;

        public int GetResult()
        {
            session._receive = default;
            return receive.Result;
        }

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            if (session._immediate)
            {
                receive.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(continuation);
                return;
            }
            session._continuation = continuation;
            if (receive.IsCompleted)
            {
                session.ScheduleContinuation();
                return;
            }
            session._receive = receive;
            receive.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(session._resumeAfterReceive!);
        }
    }
}
