using System.Buffers;
using System.Net.WebSockets;
using System.Reactive.Concurrency;
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

    /// <summary>
    /// Reads messages into one buffer and hands them to subscribers in batches: one new array per batch (invariant 5).
    /// A batch is delivered when the next receive has to wait for the network, so back-to-back messages cost one
    /// scheduler hop. The buffer grows only for a message that needs it, up to <see cref="WebSocketOptions.MaxMessageSize"/>.
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
                // Make room; deliver first if the room is needed by complete messages still waiting.
                int messageLength = end - messageStart;
                int wanted = Math.Min(chunk, _wsSettings.MaxMessageSize - messageLength + 1); // one byte too many reveals an oversize message
                if (buffer.Length - end < wanted)
                {
                    if (bounds.Count > 0)
                    {
                        await Deliver(buffer, ref start, messageStart, ref bounds, kind).ConfigureAwait(false);
                    }
                    if (messageStart > 0)
                    {
                        buffer.AsSpan(messageStart, messageLength).CopyTo(buffer);
                        start = messageStart = 0;
                        end = messageLength;
                    }
                    if (buffer.Length - end < wanted)
                    {
                        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, end + wanted));
                        buffer.AsSpan(0, end).CopyTo(grown);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = grown;
                    }
                }

                var receive = _ws.ReceiveAsync(buffer.AsMemory(end, wanted), CancellationToken.None);
                ValueWebSocketReceiveResult result;
                if (!receive.IsCompleted && bounds.Count > 0)
                {
                    // Nothing more is buffered: hand over what we have while the read waits for the network. The read
                    // writes at [end..), past the bytes being copied out.
                    var delivered = DeliverAsync(bounds.ToBatch(this, buffer, start, messageStart - start, kind));
                    start = messageStart;
                    result = await receive.ConfigureAwait(false);
                    await delivered.ConfigureAwait(false);
                }
                else
                {
                    result = await receive.ConfigureAwait(false);
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    OnCloseFrame(result);
                    return;
                }
                end += result.Count;
                if (end - messageStart > _wsSettings.MaxMessageSize)
                {
                    await OnMessageTooLarge(buffer, start, messageStart, ref bounds, kind).ConfigureAwait(false);
                    return;
                }
                if (result.EndOfMessage)
                {
                    var messageKind = result.MessageType == WebSocketMessageType.Text ? FrameKind.Text : FrameKind.Binary;
                    if (messageKind != kind && bounds.Count > 0) await Deliver(buffer, ref start, messageStart, ref bounds, kind).ConfigureAwait(false);
                    kind = messageKind;
                    bounds.Add(messageStart - start, end - messageStart);
                    messageStart = end;
                    if (messageStart - start >= maxBatch) await Deliver(buffer, ref start, messageStart, ref bounds, kind).ConfigureAwait(false);
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
            OnReceiveFailed(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _readDone.TrySetResult();
        }
    }

    private ValueTask Deliver(byte[] buffer, ref int start, int messageStart, ref FrameBoundsList bounds, FrameKind kind)
    {
        var batch = bounds.ToBatch(this, buffer, start, messageStart - start, kind);
        start = messageStart;
        return DeliverAsync(batch);
    }

    // Completed when reading may go on after a batch: at once, or when the holds a handler took are released.
    private TaskCompletionSource? _resumeReading;

    /// <summary>Delivers the batch on the scheduler; the task completes when reading may continue (read credit: a
    /// handler that holds reading keeps this loop from reading further).</summary>
    private ValueTask DeliverAsync(FrameBatch batch)
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Scheduler.Schedule((Session: this, Batch: batch, Resume: resume), static (_, st) =>
        {
            st.Session.DeliverOnScheduler(st.Batch);
            if (st.Session.IsReadingStopped && st.Session.IsOpen) Volatile.Write(ref st.Session._resumeReading, st.Resume);
            else st.Resume.TrySetResult();
            return Disposable.Empty;
        });
        return new ValueTask(resume.Task);
    }

    private protected override void OnReadingResumed() => Interlocked.Exchange(ref _resumeReading, null)?.TrySetResult();

    /// <summary>The peer's close frame: it started the close (we answer with the same code after the queued messages),
    /// or it answered ours.</summary>
    private void OnCloseFrame(ValueWebSocketReceiveResult result)
    {
        int code = _ws.CloseStatus is { } status ? (int)status : 1005;
        // A close frame without a code (1005) is answered with one without a code.
        Shutdown(new CloseReason(CloseKind.RemoteClose, null, _ws.CloseStatusDescription is { Length: > 0 } d ? d : null, code), graceful: true);
    }

    /// <summary>1009 (§7.4.1): the message is bigger than we accept. Complete messages before it still count.</summary>
    private ValueTask OnMessageTooLarge(byte[] buffer, int start, int messageStart, ref FrameBoundsList bounds, FrameKind kind)
    {
        var delivered = bounds.Count > 0 ? DeliverAsync(bounds.ToBatch(this, buffer, start, messageStart - start, kind)) : default;
        Settings.Metrics.Drop(Transport, "message_too_large");
        ShutdownAfterPendingFrames(new CloseReason(CloseKind.FrameTooLarge, null,
            $"a message exceeded the maximum message size of {_wsSettings.MaxMessageSize} bytes", 1009), graceful: true);
        return delivered;
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
