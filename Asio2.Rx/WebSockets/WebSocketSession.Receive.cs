using System.Buffers;
using System.Net.WebSockets;
using System.Reactive.Concurrency;
using System.Runtime.CompilerServices;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

// The receive path: System.Net.WebSockets decodes frames; here fragments become messages, messages become frames.
public sealed partial class WebSocketSession
{
    /// <summary>Messages received back to back (the WebSocket had them buffered) are delivered together, up to this many
    /// bytes (or <see cref="SessionOptions.MaxPendingReceiveBytes"/>, if smaller); then the batch goes out even if more
    /// are ready. While reading is held, one batch and one receive wait in the session.</summary>
    private const int MaxBatchBytes = 64 * 1024;

    /// <summary>The least room a receive is given; less than that left in the buffer delivers, compacts or grows it.</summary>
    private const int MinRead = 4 * 1024;

    /// <summary>Bytes read in a row on one turn of the scheduler before the loop gives it back to other sessions.</summary>
    private const int YieldBytes = 64 * 1024;

    /// <summary>
    /// Reads messages into one buffer and hands them to subscribers in batches: one new array per batch (invariant 5).
    /// The loop runs on the session's scheduler (a receive that completes later resumes there: one hop per wait for
    /// the network), so a batch is delivered inline, without a hop of its own, when the next receive has to wait, or
    /// when it reaches <see cref="MaxBatchBytes"/>. The buffer grows only for a message that needs it, up to
    /// <see cref="WebSocketOptions.MaxMessageSize"/>.
    /// </summary>
    private async Task ReadLoopAsync()
    {
        int chunk = Settings.ReceiveBufferSize;
        int maxBatch = Math.Min(MaxBatchBytes, Settings.MaxPendingReceiveBytes);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(chunk);
        // [start, messageStart): complete messages not yet delivered (bounds holds them); [messageStart, end): the message being read
        int start = 0, messageStart = 0, end = 0;
        var bounds = new FrameBoundsList();
        var kind = FrameKind.Binary; // of the messages in bounds: a batch holds messages of one kind
        try
        {
            while (true)
            {
                // Make room; deliver first if the room is needed by complete messages still waiting. A read needs
                // MinRead bytes of room, not a whole chunk: small messages then gather in the buffer into one batch.
                int messageLength = end - messageStart;
                int wanted = Math.Min(chunk, _wsSettings.MaxMessageSize - messageLength + 1); // one byte too many reveals an oversize message
                int room = Math.Min(wanted, MinRead);
                if (buffer.Length - end < room)
                {
                    if (bounds.Count > 0)
                    {
                        await OnLoop(Deliver(buffer, ref start, messageStart, ref bounds, kind));
                    }
                    if (messageStart > 0)
                    {
                        buffer.AsSpan(messageStart, messageLength).CopyTo(buffer);
                        start = messageStart = 0;
                        end = messageLength;
                    }
                    if (buffer.Length - end < room)
                    {
                        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, end + wanted));
                        buffer.AsSpan(0, end).CopyTo(grown);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = grown;
                    }
                }

                if (bounds.Count > 0 && _wire.TakeUnusualFrameSeen())
                {
                    // The next frame may make System.Net fail the connection (and send its close frame) inside the
                    // receive: the messages before it are answered first, as if each had been delivered on its own.
                    await OnLoop(Deliver(buffer, ref start, messageStart, ref bounds, kind));
                }
                var receive = _ws.ReceiveAsync(buffer.AsMemory(end, Math.Min(wanted, buffer.Length - end)), CancellationToken.None);
                if (!receive.IsCompleted && bounds.Count > 0)
                {
                    // Nothing more is buffered: hand over what we have while the read waits for the network. The read
                    // writes at [end..), past the bytes the batch copies out.
                    var resume = Deliver(buffer, ref start, messageStart, ref bounds, kind);
                    if (!resume.IsCompleted) await OnLoop(resume);
                }
                var result = await OnLoop(receive);
                _turnBytes += result.Count;

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (bounds.Count > 0) DeliverOnScheduler(bounds.ToBatch(this, buffer, start, messageStart - start, kind));
                    OnCloseFrame(result);
                    return;
                }
                end += result.Count;
                if (end - messageStart > _wsSettings.MaxMessageSize)
                {
                    OnMessageTooLarge(buffer, start, messageStart, ref bounds, kind);
                    return;
                }
                if (result.EndOfMessage)
                {
                    var messageKind = result.MessageType == WebSocketMessageType.Text ? FrameKind.Text : FrameKind.Binary;
                    if (messageKind != kind && bounds.Count > 0) await OnLoop(Deliver(buffer, ref start, messageStart, ref bounds, kind));
                    kind = messageKind;
                    bounds.Add(messageStart - start, end - messageStart);
                    messageStart = end;
                    if (messageStart - start >= maxBatch) await OnLoop(Deliver(buffer, ref start, messageStart, ref bounds, kind));
                }
                if (!IsOpen && CloseReason!.Kind is not (CloseKind.LocalClose or CloseKind.Stopped))
                {
                    // Closing for a reason of our own that does not need the peer's close frame: stop reading.
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            // Messages that arrived before the failure are delivered first (the close reason follows them).
            if (bounds.Count > 0) DeliverOnScheduler(bounds.ToBatch(this, buffer, start, messageStart - start, kind));
            OnReceiveFailed(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _readDone.TrySetResult();
        }
    }

    /// <summary>Delivers the complete messages in [start, messageStart) now, on the scheduler; the task completes when
    /// reading may go on: at once, or when the holds a handler took are released (read credit).</summary>
    private ValueTask<bool> Deliver(byte[] buffer, ref int start, int messageStart, ref FrameBoundsList bounds, FrameKind kind)
    {
        var batch = bounds.ToBatch(this, buffer, start, messageStart - start, kind);
        start = messageStart;
        DeliverOnScheduler(batch);
        if (!IsReadingStopped || !IsOpen) return new ValueTask<bool>(true);
        var resume = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _resumeReading, resume);
        // The last hold may have gone between the check and the publication.
        if (!IsReadingStopped || !IsOpen) OnReadingResumed();
        return new ValueTask<bool>(resume.Task);
    }

    // Completed when reading may go on after a batch whose handlers held reading.
    private TaskCompletionSource<bool>? _resumeReading;

    private protected override void OnReadingResumed() => Interlocked.Exchange(ref _resumeReading, null)?.TrySetResult(true);

    // ---- the loop on the scheduler ----

    private int _turnBytes;
    private Action? _continuation;
    private Action? _resumeOnScheduler;

    /// <summary>Starts the read loop in a work item of the session's scheduler.</summary>
    private void StartReadLoop() => Scheduler.Schedule(this, static (IScheduler scheduler, WebSocketSession s) =>
    {
        _ = s.ReadLoopAsync();
        return Disposable.Empty;
    });

    /// <summary>Awaits <paramref name="task"/> so that the loop goes on in a work item of the scheduler: inline when it
    /// completed already (until the turn's byte budget is used), else after a hop.</summary>
    private LoopHop<T> OnLoop<T>(ValueTask<T> task) => new(this, task);

    private void ResumeOnScheduler()
    {
        try
        {
            Scheduler.Schedule(this, static (_, s) =>
            {
                s._turnBytes = 0;
                var continuation = s._continuation!;
                s._continuation = null;
                continuation();
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException)
        {
            // The scheduler is gone (its pool was disposed): finish the loop off it; the session closes next.
            var continuation = _continuation!;
            _continuation = null;
            ThreadPool.UnsafeQueueUserWorkItem(static c => c(), continuation, preferLocal: false);
        }
    }

    private readonly struct LoopHop<T>(WebSocketSession session, ValueTask<T> task) : ICriticalNotifyCompletion
    {
        public LoopHop<T> GetAwaiter() => this;

        // ImmediateScheduler has no thread to yield to: a hop there would only deepen the stack.
        public bool IsCompleted => task.IsCompleted
            && (session._turnBytes < YieldBytes || ReferenceEquals(session.Scheduler, ImmediateScheduler.Instance));

        public T GetResult() => task.GetAwaiter().GetResult();

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            session._continuation = continuation;
            var resume = session._resumeOnScheduler ??= session.ResumeOnScheduler;
            if (task.IsCompleted) resume();
            else task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(resume);
        }
    }

    /// <summary>The peer's close frame: it started the close (we answer with the same code after the queued messages),
    /// or it answered ours.</summary>
    private void OnCloseFrame(ValueWebSocketReceiveResult result)
    {
        int code = _ws.CloseStatus is { } status ? (int)status : 1005;
        // A close frame without a code (1005) is answered with one without a code.
        Shutdown(new CloseReason(CloseKind.RemoteClose, null, _ws.CloseStatusDescription is { Length: > 0 } d ? d : null, code), graceful: true);
    }

    /// <summary>1009 (§7.4.1): the message is bigger than we accept. Complete messages before it still count.</summary>
    private void OnMessageTooLarge(byte[] buffer, int start, int messageStart, ref FrameBoundsList bounds, FrameKind kind)
    {
        if (bounds.Count > 0) DeliverOnScheduler(bounds.ToBatch(this, buffer, start, messageStart - start, kind));
        Settings.Metrics.Drop(Transport, "message_too_large");
        ShutdownAfterPendingFrames(new CloseReason(CloseKind.FrameTooLarge, null,
            $"a message exceeded the maximum message size of {_wsSettings.MaxMessageSize} bytes", 1009), graceful: true);
    }

    /// <summary>The WebSocket failed: a protocol violation (System.Net already sent 1002 or 1007; the code it sent is on
    /// the wire), or the connection broke without a close frame (1006).</summary>
    private void OnReceiveFailed(Exception ex)
    {
        if (!IsOpen) return;
        if (ex is WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely } && ex.InnerException is null)
        {
            ShutdownAfterPendingFrames(new CloseReason(CloseKind.RemoteClose, ex, "the peer closed the connection without a close frame", 1006), graceful: false);
            return;
        }
        if (_wire.SentCloseCode is { } sent)
        {
            Settings.Metrics.Drop(Transport, "protocol_error");
            ShutdownAfterPendingFrames(new CloseReason(sent == 1009 ? CloseKind.FrameTooLarge : CloseKind.ProtocolError, ex, ex.Message, sent), graceful: true);
            return;
        }
        var io = ex is WebSocketException { InnerException: { } inner } ? inner : ex;
        Asio2Log.WebSocketReceiveFailed(Logger, ex, this);
        ShutdownAfterPendingFrames(ClassifyError(io) with { Code = 1006 }, graceful: false);
    }
}
