using System.Buffers;
using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// A session over a byte stream (TCP, TLS, serial, in-memory): one read loop that cuts the stream into frames
/// with the session's <see cref="Framing"/>, and the shared send queue writing coalesced batches.
/// </summary>
internal sealed class StreamSession : Session
{
    private readonly Transport _transport;
    private readonly FrameDecoder _decoder;
    private readonly CancellationTokenSource _cts = new();

    // The read loop runs on the session's scheduler (asio2's strand): an asynchronous receive resumes there, the
    // frames are delivered inline, and the next receive is issued from the loop thread. With ImmediateScheduler or a
    // virtual-time scheduler (_inline) the loop runs on whichever thread completes the receive and hands batches over.
    private readonly bool _inline;
    private readonly Action? _resumeAfterReceive;
    private Action? _continuation;
    private ValueTask<int> _receive;

    // Batches and bytes delivered inline in a row before the loop gives the scheduler back to other sessions. Small:
    // the saving is the cross-thread hop, not running long. tcp-echo (100 sessions on one loop) kept the pool's
    // fairness with 1 or 2 batches (clients 0.99..1.02x, p99 17-27 ms as before) and lost it with 16 batches /
    // 256 KiB (0.88..1.09x, p99 ~100 ms); 2 keeps two reads that arrive together in one turn.
    private const int YieldBatches = 2;
    private const int YieldBytes = 32 * 1024;

    public StreamSession(Transport transport, SessionSettings settings, IScheduler scheduler)
        : base(settings, scheduler)
    {
        _transport = transport;
        _decoder = settings.Framing.CreateDecoder();
        // Virtual time keeps the loop off the scheduler too: a TestScheduler is not thread-safe, and real I/O completes
        // on other threads, so only finished frames are handed to it (as DeliverAsync does), never the loop itself.
        _inline = ReferenceEquals(scheduler, ImmediateScheduler.Instance) || SchedulerKinds.IsVirtualTime(scheduler);
        if (!_inline) _resumeAfterReceive = ResumeAfterReceive;
    }

    internal Transport TransportLayer => _transport;

    /// <summary>This session's decoder: protocol layers with a stateful framing (HTTP) read what it decoded.</summary>
    internal FrameDecoder Decoder => _decoder;

    public override EndPoint? LocalEndPoint => _transport.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _transport.RemoteEndPoint;

    private protected override void StartTransport() => _ = ReadLoopAsync();

    private protected override ValueTask WriteAsync(ReadOnlyMemory<byte> batch) => _transport.SendAsync(batch, _cts.Token);

    private protected override CloseReason ClassifyError(Exception ex) => _transport.Classify(ex);

    // A byte stream may be written in pieces of any size: a write rate limit splits batches at its budget.
    private protected override bool CanSplitWrites => true;

    private protected override void CloseTransport(bool abortive)
    {
        if (abortive) _transport.Abort();
        else _transport.Shutdown();
        _cts.Cancel();
        _transport.Dispose();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadLoopAsync()
    {
        var framing = Settings.Framing;
        int limit = framing.MaxEncodedFrameSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(Settings.ReceiveBufferSize, Math.Max(limit, 256)));
        int start = 0, end = 0;
        try
        {
            await _transport.StartAsync(this, _cts.Token).ConfigureAwait(false);
            // True while this code runs in a work item of the session's scheduler (always with ImmediateScheduler).
            bool onLoop = _inline;
            int batches = 0, bytes = 0;
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        // Move the partial frame to the front.
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        // One frame fills the buffer: grow, but never past what one legal frame can take.
                        if (buffer.Length >= limit)
                            throw new FrameException(FrameError.TooLarge, $"no frame fits in {limit} bytes");
                        var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit));
                        buffer.AsSpan(0, end).CopyTo(grown);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = grown;
                    }
                }

                var free = buffer.AsMemory(end);
                if (ReadLimit is { } budget)
                {
                    // Read no more than the budget: the rest waits in the kernel, and flow control slows the peer.
                    if (budget.Available <= 0)
                    {
                        // The bucket's timer runs on the session's scheduler and resumes the loop inline there.
                        var wait = budget.WaitAsync(free.Length);
                        if (!wait.IsCompleted)
                        {
                            await wait.ConfigureAwait(false);
                            batches = bytes = 0; // resumed by the timer: a new turn on the loop
                        }
                        if (!IsOpen) return;
                    }
                    free = free[..(int)Math.Clamp(budget.Available, 1, free.Length)];
                }
                int read;
                var receive = _transport.ReceiveAsync(free, _cts.Token);
                if (receive.IsCompletedSuccessfully)
                {
                    read = receive.Result;
                    if (!_inline && (!onLoop || batches >= YieldBatches || bytes >= YieldBytes))
                    {
                        // Data was already there: no thread to wake, but after the budget give the other sessions
                        // on the loop their turn (and move onto the loop if this thread is not it) by re-scheduling.
                        await new LoopHop(this, default, hasInner: false);
                        onLoop = true;
                        batches = bytes = 0;
                    }
                }
                else if (_inline)
                {
                    read = await receive.ConfigureAwait(false);
                }
                else
                {
                    // One hop per asynchronous completion: the continuation runs on the session's scheduler.
                    read = await new LoopHop(this, receive, hasInner: true);
                    onLoop = true;
                    batches = bytes = 0;
                }
                if (read == 0)
                {
                    if (end > start && _decoder.TryDecodeFinal(buffer.AsMemory(start, end - start), out var last))
                    {
                        var bounds = new FrameBoundsList();
                        bounds.Add(last.PayloadOffset, last.PayloadLength);
                        var lastBatch = bounds.ToBatch(this, buffer, start, last.Consumed);
                        if (_inline) await DeliverAsync(lastBatch).ConfigureAwait(false);
                        else DeliverInline(lastBatch);
                    }
                    string? note = end > start ? $"the peer closed with {end - start} bytes of an incomplete frame" : null;
                    ShutdownAfterPendingFrames(new CloseReason(CloseKind.RemoteClose, null, note), graceful: true);
                    return;
                }
                end += read;
                OnBytesReceived(read);
                if (_inline) start = await DecodeAndDeliverAsync(buffer, start, end).ConfigureAwait(false);
                else start = DecodeAndDeliverInline(buffer, start, end);
                batches++;
                bytes += read;
                if (start == end) start = end = 0;
                if (!IsOpen) return;
            }
        }
        catch (FrameException fe)
        {
            var (reason, drop) = FrameCutter.Classify(fe);
            Asio2Metrics.Drop(Transport, drop);
            // Frames before the bad bytes were delivered; replies to them still go out before the close (asio2 does the same).
            ShutdownAfterPendingFrames(reason, graceful: true);
        }
        catch (Exception ex)
        {
            if (IsOpen) Shutdown(ClassifyError(ex), graceful: false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes every complete frame in buffer[start..end) and delivers them at once, on the session's
    /// scheduler (the caller runs in one of its work items); returns the new start. Receive back-pressure is
    /// structural here: the loop reads again only after the subscribers have processed the batch.</summary>
    private int DecodeAndDeliverInline(byte[] buffer, int start, int end)
    {
        var bounds = new FrameBoundsList();
        int consumed = FrameCutter.Cut(_decoder, buffer, start, end, ref bounds, out var error);
        if (bounds.Count > 0) DeliverInline(bounds.ToBatch(this, buffer, start, consumed));
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return start + consumed;
    }

    private void ResumeAfterReceive()
    {
        if (_receive.IsCompletedSuccessfully)
        {
            ScheduleContinuation();
        }
        else
        {
            // A failed receive ends the loop: it closes the session from here, as before, without a hop.
            var continuation = _continuation!;
            _continuation = null;
            continuation();
        }
    }

    private void ScheduleContinuation()
    {
        try
        {
            Scheduler.Schedule(this, static (_, s) =>
            {
                var continuation = s._continuation!;
                s._continuation = null;
                continuation();
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

    /// <summary>Resumes the read loop in a work item of the session's scheduler: after the inner receive completes
    /// (one hop per asynchronous completion), or at once (a yield, or the first move onto the loop).</summary>
    private readonly struct LoopHop(StreamSession session, ValueTask<int> inner, bool hasInner) : ICriticalNotifyCompletion
    {
        public LoopHop GetAwaiter() => this;

        public bool IsCompleted => false;

        public int GetResult()
        {
            if (!hasInner) return 0;
            session._receive = default;
            return inner.Result;
        }

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            session._continuation = continuation;
            if (hasInner)
            {
                session._receive = inner;
                inner.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(session._resumeAfterReceive!);
            }
            else session.ScheduleContinuation();
        }
    }

    /// <summary>Decodes every complete frame in buffer[start..end), delivers them as one batch, returns the new start.
    /// Throws the framing error after delivering the frames that came before it.</summary>
    private ValueTask<int> DecodeAndDeliverAsync(byte[] buffer, int start, int end)
    {
        var bounds = new FrameBoundsList();
        int consumed = FrameCutter.Cut(_decoder, buffer, start, end, ref bounds, out var error);
        var wait = bounds.Count > 0 ? DeliverAsync(bounds.ToBatch(this, buffer, start, consumed)) : default;
        // After an error back-pressure does not matter: the session closes next.
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return wait.IsCompletedSuccessfully ? new ValueTask<int>(start + consumed) : AwaitThen(wait, start + consumed);

        static async ValueTask<int> AwaitThen(ValueTask wait, int next)
        {
            await wait.ConfigureAwait(false);
            return next;
        }
    }
}
