using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

public abstract partial class Session
{
    private readonly SendQueue _sendQueue;

    /// <summary>Bytes accepted by <c>Send</c> and not yet written to the transport.</summary>
    public long QueuedSendBytes => _sendQueue.QueuedBytes;

    /// <summary>Bytes written to the transport.</summary>
    public long BytesSent => _sendQueue.SentPosition;

    /// <summary>Frames accepted by <c>Send</c>.</summary>
    public long FramesSent => _sendQueue.FramesQueued;

    internal Task WhenSent(long position) => _sendQueue.WhenSent(position);

    /// <summary>Writes one coalesced batch of queued sends to the transport.</summary>
    private protected abstract ValueTask WriteAsync(ReadOnlyMemory<byte> batch);

    /// <summary>True when <see cref="WriteAsync"/> may be given any piece of a batch (a byte stream), so a write rate
    /// limit splits batches at its budget. False (the safe default, for transports that parse records back out of a
    /// batch): a batch goes out whole and its cost is paid as debt before the next one.</summary>
    private protected virtual bool CanSplitWrites => false;

    /// <summary>Header bytes written before a payload; the framing's by default. Message transports use their own record header.</summary>
    private protected virtual int GetSendHeaderLength(int payloadLength) => Settings.Framing.GetHeaderLength(payloadLength);

    /// <summary>Writes the header counted by <see cref="GetSendHeaderLength"/>.</summary>
    private protected virtual void WriteSendHeader(Span<byte> destination, int payloadLength) => Settings.Framing.WriteHeader(destination, payloadLength);

    /// <summary>The largest payload one <c>Send</c> accepts. Framings with a length header cap it at their maximum
    /// frame size, because the peer would reject anything larger.</summary>
    private protected virtual int MaxSendPayload => Settings.Framing.GetHeaderLength(0) > 0 ? Settings.Framing.MaxFrameSize : int.MaxValue;

    /// <summary>Maps a transport exception to a close reason. Transports override this for their own error types.</summary>
    private protected virtual CloseReason ClassifyError(Exception ex) => ErrorClassifier.Classify(ex);

    /// <summary>
    /// The bounded, ordered, thread-safe send queue (invariant 6). Sends append to a pending buffer under a lock;
    /// one writer at a time swaps it with the in-flight buffer and writes everything queued so far in one call, so
    /// many small sends become few transport writes. Sends made while a batch of frames is being delivered are
    /// flushed together when the batch ends, so an echo handler costs one write per received batch, not per frame.
    /// </summary>
    private sealed class SendQueue
    {
        private readonly Session _session;
        private readonly object _lock = new();
        private GrowableBuffer _pending = new();
        private GrowableBuffer _inFlight = new();
        private long _queuedBytes;
        private long _enqueuedPosition;
        private long _sentPosition;
        private long _framesQueued;
        private bool _sealed;
        private bool _writerActive;
        private bool _deferredKick;
        private List<(long Position, TaskCompletionSource Done)>? _waiters;
        private long _drainAt;
        private Action<Session>? _onDrained;
        private CloseReason? _failed;
        private readonly TokenBucket? _writeLimit;
        private readonly int _maxQueueBytes;
        private int _maxPayload = -1; // resolved on first use: the session's override is not callable from its base constructor

        public SendQueue(Session session)
        {
            _session = session;
            _maxQueueBytes = session.Settings.MaxSendQueueBytes;
            _writeLimit = session.Settings.WriteRateLimit is { } limit ? new TokenBucket(limit, session.Scheduler) : null;
        }

        public long QueuedBytes => Volatile.Read(ref _queuedBytes);
        public long SentPosition => Volatile.Read(ref _sentPosition);
        public long FramesQueued => Volatile.Read(ref _framesQueued);

        public SendResult Enqueue(ReadOnlySpan<byte> payload)
        {
            var s = _session;
            int maxPayload = _maxPayload >= 0 ? _maxPayload : (_maxPayload = s.MaxSendPayload);
            if (payload.Length > maxPayload)
                return SendResult.Failed(new SendRejectedException(SendRejection.TooLarge, $"a payload of {payload.Length} bytes exceeds the maximum frame size {maxPayload}"));
            int header = s.GetSendHeaderLength(payload.Length);
            int total = header + payload.Length;
            long position;
            bool kick = false, overflow = false;
            lock (_lock)
            {
                if (_sealed) return Closed();
                if (_queuedBytes + total > _maxQueueBytes)
                {
                    overflow = true;
                    position = 0;
                }
                else
                {
                    var span = _pending.GetSpan(total);
                    if (header > 0) s.WriteSendHeader(span[..header], payload.Length);
                    payload.CopyTo(span[header..]);
                    _pending.Advance(total);
                    _queuedBytes += total;
                    _framesQueued++;
                    position = _enqueuedPosition += total;
                    // Once a flush is owed to the end of the current batch, later sends of the batch have nothing to decide.
                    if (!_writerActive && !_deferredKick)
                    {
                        if (IsDelivering(s)) _deferredKick = true;
                        else kick = _writerActive = true;
                    }
                }
            }
            if (overflow) return Overflow(total);
            // The first write runs on the caller's thread: it does not block (the transport is asynchronous), it keeps
            // latency low, and it keeps virtual-time tests deterministic. Sends that arrive while it is in flight
            // pile up and go out together in the next write.
            if (kick) RunWriter();
            return new SendResult(s, position);
        }

        private SendResult Closed() => SendResult.Failed(new SessionClosedException(_session.CloseReason ?? new CloseReason(CloseKind.LocalClose)));

        private SendResult Overflow(int size)
        {
            var s = _session;
            Asio2Metrics.Drop(s.Transport, "send_queue_full");
            string message = $"send queue over {s.Settings.MaxSendQueueBytes} bytes (a send of {size} bytes did not fit)";
            if (s.Settings.SendQueueFullPolicy == SendQueueFullPolicy.Reject)
                return SendResult.Failed(new SendRejectedException(SendRejection.QueueFull, message));
            s.Shutdown(new CloseReason(CloseKind.SendQueueOverflow, null, message), graceful: false);
            return Closed();
        }

        /// <summary>Called at the end of a delivered batch, on the session's scheduler.</summary>
        public void FlushDeferred()
        {
            lock (_lock)
            {
                if (!_deferredKick) return;
                _deferredKick = false;
                if (_writerActive || _pending.Length == 0) return;
                _writerActive = true;
            }
            RunWriter();
        }

        private void RunWriter() => _ = WriteLoopAsync();

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask WriteLoopAsync()
        {
            try
            {
                while (true)
                {
                    GrowableBuffer batch;
                    lock (_lock)
                    {
                        if (_pending.Length == 0 || _failed is not null)
                        {
                            _writerActive = false;
                            return;
                        }
                        (_pending, _inFlight) = (_inFlight, _pending);
                        batch = _inFlight;
                    }
                    int n = batch.Length;
                    if (_writeLimit is null)
                    {
                        await _session.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
                        Written(n);
                    }
                    else
                    {
                        await WriteLimitedAsync(_writeLimit, batch.WrittenMemory).ConfigureAwait(false);
                    }
                    batch.Clear();
                }
            }
            catch (Exception ex)
            {
                lock (_lock) _writerActive = false;
                if (_session.IsOpen && _session.Logger.IsEnabled(LogLevel.Debug)) _session.Logger.LogDebug(ex, "{Session} write failed", _session);
                _session.Shutdown(_session.ClassifyError(ex), graceful: false);
            }
        }

        /// <summary>Accounts bytes the transport took: counters, metrics, and the sends they complete.</summary>
        private void Written(int n)
        {
            long sent;
            List<(long, TaskCompletionSource)>? waiters;
            lock (_lock)
            {
                _queuedBytes -= n;
                sent = _sentPosition += n;
                waiters = _waiters is { Count: > 0 } ? _waiters : null;
            }
            Asio2Metrics.BytesSent(_session.Transport, n);
            if (waiters is not null) CompleteWaiters(sent);
            if (Volatile.Read(ref _onDrained) is not null) CheckDrained(sent);
        }

        /// <summary>Runs <paramref name="callback"/> on the writer's thread once everything up to <paramref name="position"/>
        /// is written (at once if it already is). Unlike <see cref="WhenSent"/> there is no thread hop, so a graceful close
        /// over an in-memory pair stays deterministic in virtual time. One callback at a time (the graceful close's).</summary>
        public void WhenDrained(long position, Action<Session> callback)
        {
            lock (_lock)
            {
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

        /// <summary>Stops accepting sends; returns the position a graceful close drains to.</summary>
        public long Seal()
        {
            lock (_lock)
            {
                _sealed = true;
                return _enqueuedPosition;
            }
        }

        public bool IsSentThrough(long position) => Volatile.Read(ref _sentPosition) >= position;

        public Task WhenSent(long position)
        {
            if (Volatile.Read(ref _sentPosition) >= position) return Task.CompletedTask;
            lock (_lock)
            {
                if (_sentPosition >= position) return Task.CompletedTask;
                if (_failed is not null) return Task.FromException(new SessionClosedException(_failed));
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                (_waiters ??= []).Add((position, done));
                return done.Task;
            }
        }

        private void CompleteWaiters(long sent)
        {
            List<TaskCompletionSource>? ready = null;
            lock (_lock)
            {
                if (_waiters is null) return;
                for (int i = _waiters.Count - 1; i >= 0; i--)
                {
                    if (_waiters[i].Position > sent) continue;
                    (ready ??= []).Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
            if (ready is not null) foreach (var d in ready) d.TrySetResult();
        }

        /// <summary>The session ended: unsent data is dropped and every waiter learns why.</summary>
        public void Fail(CloseReason reason)
        {
            List<(long, TaskCompletionSource Done)>? waiters;
            lock (_lock)
            {
                _sealed = true;
                _failed = reason;
                _onDrained = null;
                waiters = _waiters;
                _waiters = null;
                _queuedBytes -= _pending.Length;
                _pending.Clear();
            }
            _writeLimit?.Close();
            if (waiters is null) return;
            var error = new SessionClosedException(reason);
            foreach (var w in waiters) w.Done.TrySetException(error);
        }
    }
}

/// <summary>A byte buffer that grows by doubling and shrinks back after a burst. Not thread-safe.</summary>
internal sealed class GrowableBuffer
{
    private const int InitialSize = 4096;
    private const int ShrinkAbove = 256 * 1024;
    private byte[] _buffer = [];
    private int _length;

    public int Length => _length;

    public ReadOnlyMemory<byte> WrittenMemory => new(_buffer, 0, _length);

    /// <summary>The array behind <see cref="WrittenMemory"/> (valid up to <see cref="Length"/> until the next write).</summary>
    public byte[] WrittenArray => _buffer;

    public Span<byte> GetSpan(int size)
    {
        if (_buffer.Length - _length < size)
        {
            int newSize = Math.Max(Math.Max(InitialSize, _buffer.Length * 2), _length + size);
            var grown = GC.AllocateUninitializedArray<byte>(newSize);
            _buffer.AsSpan(0, _length).CopyTo(grown);
            _buffer = grown;
        }
        return _buffer.AsSpan(_length, size);
    }

    public void Advance(int count) => _length += count;

    public void Clear()
    {
        // After a burst, drop the big array so an idle session does not keep it.
        if (_buffer.Length > ShrinkAbove && _length < _buffer.Length / 4) _buffer = [];
        _length = 0;
    }
}
