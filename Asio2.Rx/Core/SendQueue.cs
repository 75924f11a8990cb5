using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

public abstract partial class Session
{
    private readonly SendQueue _sendQueue;

    /// <summary>Bytes accepted by <c>Send</c> and not yet written to the transport.</summary>
    public long QueuedSendBytes => _sendQueue.QueuedBytes;

    /// <summary>Bytes written to the transport: a byte stream's bytes (framing headers included), a UDP or KCP session's
    /// message payloads, a WebSocket session's frames as they go out (headers, compressed payloads and control frames
    /// included).</summary>
    public long BytesSent => CountsTransportBytes ? Volatile.Read(ref _transportBytesSent) : _sendQueue.SentPosition;

    /// <summary>True for a session whose queued records are not what it writes (UDP and KCP record lengths, WebSocket
    /// messages): it reports what reaches the transport with <see cref="OnTransportBytesSent"/>. False: the send queue's
    /// count, which is the wire's for byte streams.</summary>
    private protected virtual bool CountsTransportBytes => false;

    private long _transportBytesSent;

    /// <summary>Counts bytes the transport took (see <see cref="CountsTransportBytes"/>), in <see cref="BytesSent"/> and the metrics.</summary>
    private protected void OnTransportBytesSent(int count)
    {
        Interlocked.Add(ref _transportBytesSent, count);
        Settings.Metrics.BytesSent(Transport, count);
    }

    /// <summary>Frames accepted by <c>Send</c>.</summary>
    public long FramesSent => _sendQueue.FramesQueued;

    /// <summary>Bytes of pooled memory the send queue holds now (its segments, whole).</summary>
    internal long SendBufferBytes => _sendQueue.BufferBytes;

    /// <summary>Completes when the bytes up to <paramref name="position"/> are written. <paramref name="asTask"/>: backed
    /// by a task (completed as soon as the bytes are written; for <c>AsTask</c>), else by a pooled source.</summary>
    internal ValueTask WhenSent(long position, bool asTask = false) => _sendQueue.WhenSent(position, asTask);

    internal ValueTask WhenHeldSent(HeldSends held, long offset, bool asTask) => _sendQueue.WhenHeldSent(held, offset, asTask);

    /// <summary>Writes one coalesced batch of queued sends to the transport.</summary>
    private protected abstract ValueTask WriteAsync(ReadOnlyMemory<byte> batch);

    /// <summary>True for a message transport that can send one message in pieces (WebSocket fragments): a streamed send
    /// is queued as records of at most a segment each, written by <see cref="WritePieceHeader"/>, instead of being
    /// gathered whole first.</summary>
    private protected virtual bool SendsMessagesInPieces => false;

    /// <summary>Writes the record header (of <see cref="GetSendHeaderLength"/> bytes) of one piece of a message sent in
    /// pieces; <paramref name="last"/> marks the piece that ends the message.</summary>
    private protected virtual void WritePieceHeader(Span<byte> destination, int pieceLength, FrameKind kind, bool last) =>
        throw new NotSupportedException();

    /// <summary>True when <see cref="WriteAsync"/> may be given any piece of a batch (a byte stream), so a write rate
    /// limit splits batches at its budget and a streamed send goes out piece by piece. False (the safe default, for
    /// transports that parse records back out of a batch): a batch goes out whole and its cost is paid as debt before
    /// the next one, and a streamed send is gathered into one record first.</summary>
    private protected virtual bool CanSplitWrites => false;

    /// <summary>Header bytes written before a payload; the framing's by default. Message transports use their own record header.</summary>
    private protected virtual int GetSendHeaderLength(int payloadLength) => Settings.Framing.GetHeaderLength(payloadLength);

    /// <summary>Writes the header counted by <see cref="GetSendHeaderLength"/>.</summary>
    private protected virtual void WriteSendHeader(Span<byte> destination, int payloadLength) => Settings.Framing.WriteHeader(destination, payloadLength);

    /// <summary>Writes the header of a payload sent with a <see cref="FrameKind"/>. Transports whose wire carries the
    /// kind (WebSocket) override this; the others ignore the kind.</summary>
    private protected virtual void WriteSendHeader(Span<byte> destination, int payloadLength, FrameKind kind) => WriteSendHeader(destination, payloadLength);

    /// <summary>The largest payload one <c>Send</c> accepts. Framings with a length header cap it at their maximum
    /// frame size, because the peer would reject anything larger.</summary>
    private protected virtual int MaxSendPayload => Settings.Framing.GetHeaderLength(0) > 0 ? Settings.Framing.MaxFrameSize : int.MaxValue;

    /// <summary>The largest message a protocol layer (RPC) should build for this session: what the peer's framing takes
    /// in one frame; message transports with their own message limit override it.</summary>
    internal virtual int MaxMessageSize => Settings.Framing.MaxFrameSize;

    /// <summary>Maps a transport exception to a close reason. Transports override this for their own error types.</summary>
    private protected virtual CloseReason ClassifyError(Exception ex) => ErrorClassifier.Classify(ex);

    /// <summary>
    /// The bounded, ordered, thread-safe send queue (invariant 6). Sends are copied under a lock into a chain of pooled
    /// segments; one writer at a time writes the head segment's queued bytes in one call, so many small sends become
    /// few transport writes, and returns each segment to the pool once it is written. Sends made while a batch of
    /// frames is being delivered are flushed together when the batch ends, so an echo handler costs one write per
    /// received batch, not per frame.
    /// </summary>
    /// <remarks>
    /// <para>Streamed sends (<c>SendAsync</c>) take the queue for one frame: they append piece by piece, waiting for room
    /// between the high water mark (the bound) and the low water mark (half of it). Sends made meanwhile wait behind
    /// that frame in held regions of their own, so they stay in order and never split it; their positions are known
    /// when the frame is done.</para>
    /// <para>Sends from the delivering thread take no lock each: a handler's first send in a batch opens a region that
    /// only that thread appends to, at positions known at once (nothing else joins the chain while it is open: sends from
    /// other threads wait behind it, as behind a streamed frame), and the region joins the chain under one lock when the
    /// batch ends.</para>
    /// </remarks>
    internal sealed class SendQueue
    {
        /// <summary>Size of a pooled segment, and so of most writes (the writer takes one segment at a time): a busy
        /// stream session reads up to 64 KiB at once, and the replies to one read then go out in one write.</summary>
        internal const int SegmentSize = 64 * 1024;

        /// <summary>Size of the pieces a streamed send is cut into (a WebSocket message's fragments).</summary>
        internal const int PieceSize = 32 * 1024;

        private readonly Session _session;
        private readonly object _lock = new();
        private readonly SegmentChain _chain;
        private long _queuedBytes;     // accepted and not yet written, held regions included
        private long _heldBytes;       // accepted behind a streamed frame, not yet in the chain
        private long _enqueuedPosition;
        private long _sentPosition;
        private long _framesQueued;
        private long _bufferBytes;     // segment memory, chain and held regions
        private volatile bool _sealed;
        private bool _writerActive;
        private bool _deferredKick;
        private PriorityQueue<object, long>? _waiters;
        private long _drainAt;
        private Action<Session>? _onDrained;
        private CloseReason? _failed;
        private readonly TokenBucket? _writeLimit;
        private readonly int _maxQueueBytes;
        private int _maxPayload = -1; // resolved on first use: the session's override is not callable from its base constructor

        // Streamed sends: the one appending now, and what waits behind it in order (HeldSends and ChunkSources).
        private ChunkSource? _owner;
        private List<object>? _behind;
        private SendWaiter? _roomWaiter;

        // The delivering thread's region (see the remarks): appended to by that thread only while open, without the
        // lock; opened and closed by that thread under the lock. Other threads read _batchOpen under the lock.
        private readonly SegmentChain _batch;
        private bool _batchOpen;
        private long _batchBase;       // the chain's end position when the region opened
        private long _batchBytes;
        private int _batchFrames;
        private bool _sealedBehindBatch; // sealed by another thread while the region was open: finish sealing at its close

        public SendQueue(Session session)
        {
            _session = session;
            _chain = new SegmentChain(this);
            _batch = new SegmentChain(null);
            _maxQueueBytes = session.Settings.MaxSendQueueBytes;
            _writeLimit = session.Settings.WriteRateLimit is { } limit ? new TokenBucket(limit, session.Scheduler) : null;
        }

        public long QueuedBytes => Volatile.Read(ref _queuedBytes) + Volatile.Read(ref _batchBytes);
        public long SentPosition => Volatile.Read(ref _sentPosition);
        public long FramesQueued => Volatile.Read(ref _framesQueued) + Volatile.Read(ref _batchFrames);
        public long BufferBytes => Volatile.Read(ref _bufferBytes);

        private int MaxPayload => _maxPayload >= 0 ? _maxPayload : (_maxPayload = _session.MaxSendPayload);

        public SendResult Enqueue(ReadOnlySpan<byte> payload, FrameKind kind = FrameKind.Binary)
        {
            var s = _session;
            if (payload.Length > MaxPayload) return TooLarge(payload.Length);
            int header = s.GetSendHeaderLength(payload.Length);
            int total = header + payload.Length;
            if (IsDelivering(s) && (_batchOpen || TryOpenBatch())) return EnqueueInBatch(payload, kind, header, total);
            long position = 0;
            bool kick = false, overflow = false;
            lock (_lock)
            {
                if (_sealed) return Closed();
                if (_queuedBytes + total > _maxQueueBytes) overflow = true;
                else if (_owner is not null || _batchOpen) return EnqueueBehindStream(payload, kind, header, total);
                else
                {
                    WriteFrame(_chain.GetSpan(total), payload, kind, header);
                    _queuedBytes += total;
                    _framesQueued++;
                    position = _enqueuedPosition += total;
                    kick = TakeKick();
                }
            }
            if (overflow) return Overflow(total);
            // The first write runs on the caller's thread: it does not block (the transport is asynchronous), it keeps
            // latency low, and it keeps virtual-time tests deterministic. Sends that arrive while it is in flight
            // pile up and go out together in the next write.
            if (kick) RunWriter();
            return new SendResult(s, position);
        }

        /// <summary>On the delivering thread, region open: appends without the lock.</summary>
        private SendResult EnqueueInBatch(ReadOnlySpan<byte> payload, FrameKind kind, int header, int total)
        {
            if (_sealed) return Closed();
            if (Volatile.Read(ref _queuedBytes) + _batchBytes + total > _maxQueueBytes) return Overflow(total);
            WriteFrame(_batch.GetSpan(total), payload, kind, header);
            _batchFrames++;
            long end = _batchBytes + total;
            Volatile.Write(ref _batchBytes, end);
            return new SendResult(_session, _batchBase + end);
        }

        /// <summary>On the delivering thread: opens its region, unless the queue is sealed or a streamed frame owns it
        /// (then the send takes the locked path, which says why or waits behind the frame).</summary>
        private bool TryOpenBatch()
        {
            lock (_lock)
            {
                if (_sealed || _owner is not null) return false;
                _batchOpen = true;
                _batchBase = _enqueuedPosition;
                return true;
            }
        }

        /// <summary>Under the lock, on the delivering thread: the region joins the chain (copied into the tail's free
        /// room when it fits, so a slow peer does not leave a mostly empty segment per batch), then what waited behind it
        /// goes in, as after a streamed frame.</summary>
        private void CloseBatchLocked(ref List<TaskCompletionSource>? refused, ref TaskCompletionSource? granted)
        {
            _batchOpen = false;
            long bytes = _batchBytes;
            if (bytes > 0 && _failed is null)
            {
                if (_batch.Head is { Next: null } only && _chain.FreeAtTail >= bytes)
                {
                    only.Array.AsSpan(only.Start, (int)bytes).CopyTo(_chain.GetSpan((int)bytes));
                    _batch.ReleaseAll();
                }
                else
                {
                    _bufferBytes += _batch.Bytes;
                    _chain.Append(_batch);
                }
                _queuedBytes += bytes;
                _framesQueued += _batchFrames;
                _enqueuedPosition += bytes;
                _deferredKick = true; // on the delivering thread: the writer starts when the batch ends
            }
            else
            {
                _batch.ReleaseAll(); // the session ended meanwhile: nothing more is written
            }
            Volatile.Write(ref _batchBytes, 0);
            _batchFrames = 0;
            if (_sealedBehindBatch)
            {
                _sealedBehindBatch = false;
                SealBehindLocked(ref refused);
                if (_onDrained is not null && _drainAt == long.MaxValue) _drainAt = _enqueuedPosition;
                _deferredKick = true; // the batch's end starts the writer or finds the drain done
            }
            else
            {
                granted = GrantBehindLocked();
            }
        }

        /// <summary>On the delivering thread, before something that must come after the region's sends (an awaited or
        /// streamed send, a close): closes the region now.</summary>
        private void CloseBatchFirst()
        {
            if (!_batchOpen || !IsDelivering(_session)) return;
            List<TaskCompletionSource>? refused = null;
            TaskCompletionSource? granted = null;
            lock (_lock) CloseBatchLocked(ref refused, ref granted);
            AfterClose(refused, granted);
        }

        private void AfterClose(List<TaskCompletionSource>? refused, TaskCompletionSource? granted)
        {
            granted?.TrySetResult();
            if (refused is null) return;
            var error = ClosedError();
            foreach (var r in refused) r.TrySetException(error);
        }

        private void WriteFrame(Span<byte> destination, ReadOnlySpan<byte> payload, FrameKind kind, int header)
        {
            if (header > 0)
            {
                if (kind == FrameKind.Binary) _session.WriteSendHeader(destination[..header], payload.Length);
                else _session.WriteSendHeader(destination[..header], payload.Length, kind);
            }
            payload.CopyTo(destination[header..]);
        }

        /// <summary>Under the lock: whether the caller should start the writer (false when it runs, or when the flush
        /// is owed to the end of the batch being delivered on this thread).</summary>
        private bool TakeKick()
        {
            if (_writerActive || _deferredKick || _chain.Head is null) return false;
            if (IsDelivering(_session))
            {
                _deferredKick = true;
                return false;
            }
            return _writerActive = true;
        }

        private SendResult Closed() => SendResult.Failed(ClosedError());

        private SessionClosedException ClosedError() => new(_failed ?? _session.CloseReason ?? new CloseReason(CloseKind.LocalClose));

        private static SendResult TooLarge(long size) => SendResult.Failed(TooLargeError(size, int.MaxValue));

        private static SendRejectedException TooLargeError(long size, int max) =>
            new(SendRejection.TooLarge, max == int.MaxValue ? $"a payload of {size} bytes is too large" : $"a payload of {size} bytes exceeds the maximum frame size {max}");

        private SendResult Overflow(int size)
        {
            var s = _session;
            s.Settings.Metrics.Drop(s.Transport, "send_queue_full");
            string message = $"send queue over {s.Settings.MaxSendQueueBytes} bytes (a send of {size} bytes did not fit)";
            if (s.Settings.SendQueueFullPolicy == SendQueueFullPolicy.Reject)
                return SendResult.Failed(new SendRejectedException(SendRejection.QueueFull, message));
            s.Shutdown(new CloseReason(CloseKind.SendQueueOverflow, null, message), graceful: false);
            return Closed();
        }

        /// <summary>Called at the end of a delivered batch, on the session's scheduler: the region joins the chain and
        /// the writer starts if sends were deferred to now.</summary>
        public void FlushDeferred()
        {
            if (!_batchOpen && !_deferredKick) return; // both set by this thread only
            List<TaskCompletionSource>? refused = null;
            TaskCompletionSource? granted = null;
            bool kick = false;
            lock (_lock)
            {
                if (_batchOpen) CloseBatchLocked(ref refused, ref granted);
                _deferredKick = false;
                if (!_writerActive && _chain.Head is not null) kick = _writerActive = true;
            }
            AfterClose(refused, granted);
            if (kick) RunWriter();
            else if (Volatile.Read(ref _onDrained) is not null) CheckDrained(Volatile.Read(ref _sentPosition));
        }

        private void RunWriter() => _ = WriteLoopAsync();

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask WriteLoopAsync()
        {
            try
            {
                while (true)
                {
                    ReadOnlyMemory<byte> batch;
                    lock (_lock)
                    {
                        if (_chain.Head is not { } head || _failed is not null)
                        {
                            _writerActive = false;
                            if (_failed is not null) _chain.ReleaseAll();
                            return;
                        }
                        batch = new ReadOnlyMemory<byte>(head.Array, head.Start, head.End - head.Start);
                    }
                    if (_writeLimit is null)
                    {
                        await _session.WriteAsync(batch).ConfigureAwait(false);
                        Written(batch.Length);
                    }
                    else
                    {
                        await WriteLimitedAsync(_writeLimit, batch).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex)
            {
                lock (_lock)
                {
                    _writerActive = false;
                    if (_failed is not null) _chain.ReleaseAll();
                }
                if (_session.IsOpen) Asio2Log.WriteFailed(_session.Logger, ex, _session);
                _session.Shutdown(_session.ClassifyError(ex), graceful: false);
            }
        }

        /// <summary>Accounts bytes the transport took: counters, metrics, the sends they complete, and room.</summary>
        private void Written(int n)
        {
            long sent;
            lock (_lock)
            {
                _queuedBytes -= n;
                sent = _sentPosition += n;
                if (_failed is null) _chain.Consume(n);
                if (_waiters is { Count: > 0 } waiters)
                {
                    // Continuations run asynchronously, so completing under the lock runs no user code here.
                    while (waiters.TryPeek(out var w, out long position) && position <= sent)
                    {
                        waiters.Dequeue();
                        SendWaiter.Complete(w, null);
                    }
                }
                if (_roomWaiter is { } room && _chain.Bytes <= _maxQueueBytes / 2)
                {
                    _roomWaiter = null;
                    room.SetResult();
                }
            }
            if (!_session.CountsTransportBytes) _session.Settings.Metrics.BytesSent(_session.Transport, n);
            if (Volatile.Read(ref _onDrained) is not null) CheckDrained(sent);
        }

        /// <summary>Runs <paramref name="callback"/> on the writer's thread once everything up to <paramref name="position"/>
        /// is written (at once if it already is). Unlike <see cref="WhenSent"/> there is no thread hop, so a graceful close
        /// over an in-memory pair stays deterministic in virtual time. One callback at a time (the graceful close's).</summary>
        public void WhenDrained(long position, Action<Session> callback)
        {
            lock (_lock)
            {
                // Sealed by another thread while a region was open: drain to the end of what the region added.
                if (position == long.MaxValue && !_batchOpen) position = _enqueuedPosition;
                if (_sentPosition < position)
                {
                    _drainAt = position;
                    _onDrained = callback;
                    return;
                }
            }
            callback(_session);
        }

        private void CheckDrained(long sent)
        {
            Action<Session>? callback;
            lock (_lock)
            {
                if (_onDrained is null || sent < _drainAt) return;
                callback = _onDrained;
                _onDrained = null;
            }
            callback(_session);
        }

        /// <summary>
        /// Writes a batch within the write rate limit (see <see cref="RateLimit"/> for the schedule). A byte stream
        /// gets as much as the budget allows, piece by piece, each piece accounted as it goes; other transports get
        /// the batch whole once the bucket holds min(batch, burst), and repay the rest as debt.
        /// </summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask WriteLimitedAsync(TokenBucket limit, ReadOnlyMemory<byte> data)
        {
            while (!data.IsEmpty)
            {
                int n = data.Length;
                if (_session.CanSplitWrites)
                {
                    if (limit.Available <= 0) await limit.WaitAsync(n).ConfigureAwait(false);
                    ThrowIfFailed();
                    n = (int)Math.Clamp(limit.Available, 1, n);
                }
                else
                {
                    await limit.WaitAsync(n).ConfigureAwait(false);
                    ThrowIfFailed();
                }
                limit.Take(n);
                await _session.WriteAsync(data[..n]).ConfigureAwait(false);
                Written(n);
                data = data[n..];
            }
        }

        private void ThrowIfFailed()
        {
            // The session ended while the writer waited for budget (Fail closed the bucket to wake it).
            if (Volatile.Read(ref _failed) is { } reason) throw new SessionClosedException(reason);
        }

        /// <summary>Stops accepting sends; returns the position a graceful close drains to. Sends held behind a
        /// streamed frame join the chain now (the frame itself accepts no more pieces).</summary>
        /// <remarks>Sealed from another thread while the delivering thread's region is open, the position is not known
        /// yet: <see cref="long.MaxValue"/>, which <see cref="WhenDrained"/> resolves when the region closes.</remarks>
        public long Seal()
        {
            CloseBatchFirst();
            List<TaskCompletionSource>? refused = null;
            bool kick;
            long position;
            lock (_lock)
            {
                _sealed = true;
                if (_batchOpen)
                {
                    _sealedBehindBatch = true;
                    return long.MaxValue;
                }
                SealBehindLocked(ref refused);
                kick = TakeKick();
                position = _enqueuedPosition;
            }
            if (kick) RunWriter();
            AfterClose(refused, null);
            return position;
        }

        /// <summary>Under the lock, sealing: sends held behind a streamed frame join the chain; streamed frames that
        /// waited for their turn are refused.</summary>
        private void SealBehindLocked(ref List<TaskCompletionSource>? refused)
        {
            if (_behind is not { } behind) return;
            foreach (var item in behind)
            {
                if (item is HeldSends held) Splice(held);
                else if (((ChunkSource)item).Granted is { } granted) (refused ??= []).Add(granted);
            }
            behind.Clear();
        }

        public bool IsSentThrough(long position) => Volatile.Read(ref _sentPosition) >= position;

        public ValueTask WhenSent(long position, bool asTask = false)
        {
            if (Volatile.Read(ref _sentPosition) >= position) return default;
            lock (_lock) return WhenSentLocked(position, asTask);
        }

        private ValueTask WhenSentLocked(long position, bool asTask)
        {
            if (_sentPosition >= position) return default;
            if (_failed is not null) return ValueTask.FromException(new SessionClosedException(_failed));
            var completion = SendWaiter.Create(asTask, out var waiter);
            (_waiters ??= new PriorityQueue<object, long>()).Enqueue(waiter, position);
            return completion;
        }

        /// <summary>The session ended: unsent data is dropped and every waiter learns why.</summary>
        public void Fail(CloseReason reason)
        {
            List<object>? behind;
            lock (_lock)
            {
                _sealed = true;
                _failed = reason;
                _onDrained = null;
                behind = _behind;
                _behind = null;
                _queuedBytes -= _heldBytes;
                _heldBytes = 0;
                var error = new SessionClosedException(reason);
                if (_waiters is { } waiters)
                {
                    while (waiters.TryDequeue(out var w, out _)) SendWaiter.Complete(w, error);
                    _waiters = null;
                }
                if (_roomWaiter is { } room)
                {
                    _roomWaiter = null;
                    room.SetException(error);
                }
                if (behind is not null)
                    foreach (var item in behind)
                        if (item is HeldSends held) held.Fail(error);
                // The writer may be writing from the head segment: it returns the chain when it stops.
                if (!_writerActive)
                {
                    _chain.ReleaseAll();
                    _queuedBytes = 0;
                }
            }
            _writeLimit?.Close();
            if (behind is null) return;
            foreach (var item in behind)
                if (item is ChunkSource { Granted: { } granted }) granted.TrySetException(new SessionClosedException(reason));
        }

        // ---- sends that wait for room: SendAsync ----

        /// <summary>One frame from <paramref name="data"/>, waiting for room instead of applying the full-queue policy.
        /// Completes when the frame has been written.</summary>
        public ValueTask EnqueueAsync(ReadOnlyMemory<byte> data, FrameKind kind, CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
            var s = _session;
            if (data.Length <= MaxPayload)
            {
                int header = s.GetSendHeaderLength(data.Length);
                int total = header + data.Length;
                long position = -1;
                bool kick = false;
                CloseBatchFirst();
                lock (_lock)
                {
                    if (_sealed) return ValueTask.FromException(ClosedError());
                    if (_owner is null && !_batchOpen && _queuedBytes + total <= _maxQueueBytes)
                    {
                        WriteFrame(_chain.GetSpan(total), data.Span, kind, header);
                        _queuedBytes += total;
                        _framesQueued++;
                        position = _enqueuedPosition += total;
                        kick = TakeKick();
                    }
                }
                if (position >= 0)
                {
                    if (kick) RunWriter();
                    return WhenSent(position);
                }
            }
            return new ValueTask(SendStreamedAsync(new MemoryChunks(data), kind, cancellationToken));
        }

        /// <summary>One frame from a source of unknown or large size: takes the queue, appends the frame piece by
        /// piece as room frees up, lets what waited behind it in, then waits until the frame has been written.</summary>
        public async Task SendStreamedAsync(ChunkSource source, FrameKind kind, CancellationToken cancellationToken)
        {
            long end;
            try
            {
                await AcquireAsync(source, cancellationToken).ConfigureAwait(false);
                try
                {
                    end = await AppendStreamedAsync(source, kind, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    Release();
                }
            }
            finally
            {
                source.Dispose();
            }
            await WhenSent(end).ConfigureAwait(false);
        }

        private async ValueTask<long> AppendStreamedAsync(ChunkSource source, FrameKind kind, CancellationToken cancellationToken)
        {
            var s = _session;
            int maxPayload = MaxPayload;
            long? length = source.Length;
            if (length > maxPayload) throw TooLargeError(length.Value, maxPayload);
            if (s.SendsMessagesInPieces) return await AppendPiecesAsync(source, kind, length, cancellationToken).ConfigureAwait(false);
            bool hasHeader = s.GetSendHeaderLength(0) > 0;
            if (!s.CanSplitWrites || (hasHeader && length is null))
            {
                // A record transport needs the message whole, and a length header needs the length: gather first
                // (bounded by the maximum payload), then queue it as one frame.
                if (source.TryGetWhole(out var whole)) return await AppendWholeAsync(whole, kind, cancellationToken).ConfigureAwait(false);
                var gathered = await GatherAsync(source, maxPayload, cancellationToken).ConfigureAwait(false);
                try
                {
                    return await AppendWholeAsync(gathered.WrittenMemory, kind, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    gathered.Dispose();
                }
            }

            // A byte stream: the header (if any), then the payload in pieces of at most one segment, each when there is room.
            int header = hasHeader ? s.GetSendHeaderLength((int)length!.Value) : 0;
            long written = 0;
            bool started = false;
            try
            {
                if (header > 0)
                {
                    await WaitForRoomAsync(header, cancellationToken).ConfigureAwait(false);
                    AppendPiece(default, kind, header, (int)length!.Value);
                    started = true;
                }
                else
                {
                    lock (_lock) _framesQueued++;
                }
                while (true)
                {
                    var chunk = await source.NextAsync(cancellationToken).ConfigureAwait(false);
                    if (chunk.IsEmpty) break;
                    while (!chunk.IsEmpty)
                    {
                        int n = Math.Min(chunk.Length, PieceSize);
                        if (hasHeader && written + n > length) throw new InvalidOperationException($"the source produced more than the {length} bytes it announced");
                        await WaitForRoomAsync(n, cancellationToken).ConfigureAwait(false);
                        AppendPiece(chunk.Span[..n], kind, 0, 0);
                        written += n;
                        chunk = chunk[n..];
                    }
                }
                if (hasHeader && written != length) throw new InvalidOperationException($"the source ended after {written} of the {length} bytes it announced");
            }
            catch (Exception ex) when (started && ex is not SessionClosedException)
            {
                // The peer has a header announcing bytes that will never come: the stream cannot be framed any more.
                s.Shutdown(new CloseReason(CloseKind.LocalAbort, ex, "a streamed send stopped inside its frame"), graceful: false);
                throw;
            }
            return Volatile.Read(ref _enqueuedPosition);
        }

        /// <summary>A message sent in pieces: each piece a record of its own, as room frees up, so the message is never
        /// whole in memory. The last piece is marked; when the source's length is unknown, an empty record ends the message.</summary>
        private async ValueTask<long> AppendPiecesAsync(ChunkSource source, FrameKind kind, long? length, CancellationToken cancellationToken)
        {
            var s = _session;
            int header = s.GetSendHeaderLength(0);
            long written = 0;
            bool started = false;
            try
            {
                while (true)
                {
                    var chunk = await source.NextAsync(cancellationToken).ConfigureAwait(false);
                    if (chunk.IsEmpty) break;
                    while (!chunk.IsEmpty)
                    {
                        int n = Math.Min(chunk.Length, PieceSize - header);
                        bool last = written + n == length;
                        await WaitForRoomAsync(header + n, cancellationToken).ConfigureAwait(false);
                        AppendPiece(chunk.Span[..n], kind, header, n, lastPiece: last);
                        started = true;
                        written += n;
                        chunk = chunk[n..];
                        if (last) return Volatile.Read(ref _enqueuedPosition);
                    }
                }
                if (length is { } announced && written != announced)
                    throw new InvalidOperationException($"the source ended after {written} of the {announced} bytes it announced");
                await WaitForRoomAsync(header, cancellationToken).ConfigureAwait(false);
                return AppendPiece(default, kind, header, 0, lastPiece: true);
            }
            catch (Exception ex) when (started && ex is not SessionClosedException)
            {
                // The peer holds the start of a message whose end will never come: nothing else may be sent in between.
                s.Shutdown(new CloseReason(CloseKind.LocalAbort, ex, "a streamed send stopped inside its message"), graceful: false);
                throw;
            }
        }

        private async ValueTask<long> AppendWholeAsync(ReadOnlyMemory<byte> payload, FrameKind kind, CancellationToken cancellationToken)
        {
            if (payload.Length > MaxPayload) throw TooLargeError(payload.Length, MaxPayload);
            int header = _session.GetSendHeaderLength(payload.Length);
            int total = header + payload.Length;
            await WaitForRoomAsync(total, cancellationToken).ConfigureAwait(false);
            return AppendPiece(payload.Span, kind, header, payload.Length, wholeFrame: true);
        }

        private static async ValueTask<PooledBuffer> GatherAsync(ChunkSource source, int maxPayload, CancellationToken cancellationToken)
        {
            var buffer = new PooledBuffer();
            try
            {
                while (true)
                {
                    var chunk = await source.NextAsync(cancellationToken).ConfigureAwait(false);
                    if (chunk.IsEmpty) return buffer;
                    if (buffer.Length + chunk.Length > maxPayload) throw TooLargeError(buffer.Length + chunk.Length, maxPayload);
                    buffer.Write(chunk.Span);
                }
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }

        /// <summary>Appends a piece of the owner's frame: a header for <paramref name="frameLength"/> bytes (if
        /// <paramref name="header"/> &gt; 0) and <paramref name="payload"/>; with <paramref name="lastPiece"/>, a record of
        /// a message sent in pieces. Returns the end position.</summary>
        private long AppendPiece(ReadOnlySpan<byte> payload, FrameKind kind, int header, int frameLength, bool wholeFrame = false, bool? lastPiece = null)
        {
            long position;
            bool kick;
            lock (_lock)
            {
                if (_sealed) throw ClosedError();
                int total = header + payload.Length;
                if (wholeFrame || header > 0)
                {
                    // Records (and headers) stay contiguous in one segment; a message transport walks them back out.
                    var span = _chain.GetSpan(total);
                    if (lastPiece is { } last) _session.WritePieceHeader(span[..header], frameLength, kind, last);
                    else if (header > 0)
                    {
                        if (kind == FrameKind.Binary) _session.WriteSendHeader(span[..header], frameLength);
                        else _session.WriteSendHeader(span[..header], frameLength, kind);
                    }
                    payload.CopyTo(span[header..]);
                    if (lastPiece != false) _framesQueued++;
                }
                else
                {
                    _chain.Write(payload);
                }
                _queuedBytes += total;
                position = _enqueuedPosition += total;
                kick = TakeKick();
            }
            if (kick) RunWriter();
            return position;
        }

        /// <summary>Waits until <paramref name="size"/> more bytes fit: at once while the chain (with what the piece
        /// would add) stays within the bound, else until the writer has brought it down to half the bound (the low water mark).</summary>
        private async ValueTask WaitForRoomAsync(int size, CancellationToken cancellationToken)
        {
            while (true)
            {
                SendWaiter waiter;
                lock (_lock)
                {
                    if (_sealed) throw ClosedError();
                    cancellationToken.ThrowIfCancellationRequested();
                    if (_chain.Bytes == 0 || _chain.Bytes + _chain.GrowthFor(size) <= _maxQueueBytes) return;
                    waiter = SendWaiter.Rent();
                    _roomWaiter = waiter;
                }
                using (cancellationToken.UnsafeRegister(static (state, token) => ((SendQueue)state!).CancelRoomWait(token), this))
                    await waiter.Task.ConfigureAwait(false);
            }
        }

        private void CancelRoomWait(CancellationToken token)
        {
            lock (_lock)
            {
                if (_roomWaiter is not { } room) return;
                _roomWaiter = null;
                room.SetException(new OperationCanceledException(token));
            }
        }

        /// <summary>Takes the queue for <paramref name="source"/>'s frame, after every streamed frame and held send before it.</summary>
        private ValueTask AcquireAsync(ChunkSource source, CancellationToken cancellationToken)
        {
            CloseBatchFirst();
            lock (_lock)
            {
                if (_sealed) throw ClosedError();
                if (_owner is null && !_batchOpen)
                {
                    _owner = source;
                    return default;
                }
                source.Granted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                (_behind ??= []).Add(source);
            }
            return WaitForTurnAsync(source, cancellationToken);
        }

        private async ValueTask WaitForTurnAsync(ChunkSource source, CancellationToken cancellationToken)
        {
            using (cancellationToken.UnsafeRegister(static (state, token) =>
                   {
                       var (queue, source) = ((SendQueue, ChunkSource))state!;
                       lock (queue._lock)
                           if (queue._behind?.Remove(source) != true) return;
                       source.Granted!.TrySetCanceled(token);
                   }, (this, source)))
            {
                await source.Granted!.Task.ConfigureAwait(false);
            }
        }

        /// <summary>The owner's frame is done (or abandoned): what waited behind it joins the chain in order, up to
        /// the next streamed frame, which takes the queue.</summary>
        private void Release()
        {
            TaskCompletionSource? granted;
            bool kick;
            lock (_lock)
            {
                _owner = null;
                granted = GrantBehindLocked();
                kick = TakeKick();
            }
            granted?.TrySetResult();
            if (kick) RunWriter();
        }

        /// <summary>Under the lock, with nothing owning the queue: what waited behind joins the chain in order, up to the
        /// next streamed frame, which takes the queue (its grant is returned, to be completed outside the lock).</summary>
        private TaskCompletionSource? GrantBehindLocked()
        {
            while (_behind is { Count: > 0 } behind)
            {
                var next = behind[0];
                behind.RemoveAt(0);
                if (next is HeldSends held)
                {
                    Splice(held);
                    continue;
                }
                _owner = (ChunkSource)next;
                return _owner.Granted;
            }
            return null;
        }

        /// <summary>Under the lock: a held region joins the chain; its sends learn their positions.</summary>
        private void Splice(HeldSends held)
        {
            held.Base = _enqueuedPosition;
            _enqueuedPosition += held.Length;
            _heldBytes -= held.Length;
            _chain.Append(held.Chain);
            if (held.Early is { } early)
            {
                foreach (var (offset, waiter) in early)
                    (_waiters ??= new PriorityQueue<object, long>()).Enqueue(waiter, held.Base + offset);
                held.Early = null;
            }
        }

        /// <summary>Under the lock: a plain send made while a streamed frame owns the queue waits behind it.</summary>
        private SendResult EnqueueBehindStream(ReadOnlySpan<byte> payload, FrameKind kind, int header, int total)
        {
            var behind = _behind ??= [];
            if (behind.Count == 0 || behind[^1] is not HeldSends held)
            {
                held = new HeldSends(_session, new SegmentChain(this));
                behind.Add(held);
            }
            WriteFrame(held.Chain.GetSpan(total), payload, kind, header);
            held.Length += total;
            _heldBytes += total;
            _queuedBytes += total;
            _framesQueued++;
            return new SendResult(held, held.Length);
        }

        public ValueTask WhenHeldSent(HeldSends held, long offset, bool asTask)
        {
            lock (_lock)
            {
                if (held.Base >= 0) return WhenSentLocked(held.Base + offset, asTask);
                if (held.Error is { } error) return ValueTask.FromException(error);
                var completion = SendWaiter.Create(asTask, out var waiter);
                (held.Early ??= []).Add((offset, waiter));
                return completion;
            }
        }

        /// <summary>
        /// Pooled segments in order. The writer takes bytes from the head; sends append at the tail (a frame's header
        /// and a record stay in one segment; streamed pieces fill segments to the end). Every access is under the
        /// queue's lock.
        /// </summary>
        /// <remarks>A chain without an owner (the delivering thread's region) counts its memory only in
        /// <see cref="Bytes"/>; the queue adds it when the segments join its chain.</remarks>
        internal sealed class SegmentChain(SendQueue? owner)
        {
            private Segment? _tail;
            private Segment? _spare; // a node kept for the next segment, so a send after an idle spell allocates nothing

            public Segment? Head { get; private set; }

            /// <summary>Memory of this chain's segments, whole.</summary>
            public long Bytes { get; private set; }

            /// <summary>Free bytes in the tail segment.</summary>
            public int FreeAtTail => _tail is { } t ? t.Array.Length - t.End : 0;

            /// <summary>Memory the chain would add to hold <paramref name="size"/> more bytes.</summary>
            public int GrowthFor(int size) => size <= FreeAtTail ? 0 : Math.Max(SegmentSize, size - FreeAtTail);

            /// <summary>Room for <paramref name="size"/> contiguous bytes at the tail, counted as queued.</summary>
            public Span<byte> GetSpan(int size)
            {
                var t = _tail;
                if (t is null || t.Array.Length - t.End < size) t = AddSegment(size);
                var span = t.Array.AsSpan(t.End, size);
                t.End += size;
                return span;
            }

            /// <summary>Appends <paramref name="data"/>, filling the tail segment first.</summary>
            public void Write(ReadOnlySpan<byte> data)
            {
                while (!data.IsEmpty)
                {
                    var t = _tail;
                    if (t is null || t.End == t.Array.Length) t = AddSegment(data.Length);
                    int n = Math.Min(data.Length, t.Array.Length - t.End);
                    data[..n].CopyTo(t.Array.AsSpan(t.End));
                    t.End += n;
                    data = data[n..];
                }
            }

            private Segment AddSegment(int size)
            {
                var segment = _spare ?? new Segment();
                _spare = null;
                segment.Array = ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, size));
                if (_tail is null) Head = segment;
                else _tail.Next = segment;
                _tail = segment;
                Bytes += segment.Array.Length;
                if (owner is not null) owner._bufferBytes += segment.Array.Length;
                return segment;
            }

            /// <summary>The writer wrote <paramref name="n"/> bytes from the head: segments used up go back to the pool.</summary>
            public void Consume(int n)
            {
                var head = Head!;
                head.Start += n;
                if (head.Start < head.End) return;
                Head = head.Next;
                if (Head is null) _tail = null;
                Return(head);
            }

            /// <summary>Moves <paramref name="other"/>'s segments to the end of this chain.</summary>
            public void Append(SegmentChain other)
            {
                if (other.Head is null) return;
                if (_tail is null) Head = other.Head;
                else _tail.Next = other.Head;
                _tail = other._tail;
                Bytes += other.Bytes;
                other.Head = other._tail = null;
                other.Bytes = 0;
                // The node goes back with this chain's spare, so a chain appended batch after batch allocates none.
                other._spare ??= _spare;
                if (ReferenceEquals(other._spare, _spare)) _spare = null;
            }

            public void ReleaseAll()
            {
                while (Head is { } head)
                {
                    Head = head.Next;
                    Return(head);
                }
                _tail = null;
            }

            private void Return(Segment segment)
            {
                Bytes -= segment.Array.Length;
                if (owner is not null) owner._bufferBytes -= segment.Array.Length;
                ArrayPool<byte>.Shared.Return(segment.Array);
                segment.Array = [];
                segment.Start = segment.End = 0;
                segment.Next = null;
                _spare = segment;
            }
        }

        internal sealed class Segment
        {
            public byte[] Array = [];
            public int Start;
            public int End;
            public Segment? Next;
        }
    }

    /// <summary>Sends made while a streamed frame owned the queue: their own segments, spliced in after that frame.</summary>
    internal sealed class HeldSends(Session session, SendQueue.SegmentChain chain)
    {
        public Session Session { get; } = session;
        public SendQueue.SegmentChain Chain { get; } = chain;
        public long Length { get; set; }

        /// <summary>Where the region starts in the session's byte order; -1 until it joins the chain.</summary>
        public long Base { get; set; } = -1;

        public SessionClosedException? Error { get; private set; }

        /// <summary>Sends awaited before the region joined the chain, by end offset within it.</summary>
        public List<(long Offset, object Waiter)>? Early { get; set; }

        /// <summary>Under the queue's lock: the session ended before the region was written.</summary>
        public void Fail(SessionClosedException error)
        {
            Error = error;
            Chain.ReleaseAll();
            if (Early is { } early)
                foreach (var (_, waiter) in early) SendWaiter.Complete(waiter, error);
            Early = null;
        }
    }
}
