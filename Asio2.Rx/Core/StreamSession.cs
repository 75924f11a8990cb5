using System.Buffers;
using System.Net;
using System.Reactive.Concurrency;
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

    public StreamSession(Transport transport, SessionSettings settings, IScheduler scheduler)
        : base(settings, scheduler)
    {
        _transport = transport;
        _decoder = settings.Framing.CreateDecoder();
    }

    internal Transport TransportLayer => _transport;

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
                    if (budget.Available <= 0) await budget.WaitAsync(free.Length).ConfigureAwait(false);
                    free = free[..(int)Math.Clamp(budget.Available, 1, free.Length)];
                }
                int read = await _transport.ReceiveAsync(free, _cts.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    if (end > start && _decoder.TryDecodeFinal(buffer.AsMemory(start, end - start), out var last))
                    {
                        var bounds = ArrayPool<int>.Shared.Rent(2);
                        bounds[0] = last.PayloadOffset;
                        bounds[1] = last.PayloadLength;
                        await DeliverAsync(CopyBatch(buffer, start, bounds, 1, last.Consumed)).ConfigureAwait(false);
                    }
                    string? note = end > start ? $"the peer closed with {end - start} bytes of an incomplete frame" : null;
                    ShutdownAfterPendingFrames(new CloseReason(CloseKind.RemoteClose, null, note), graceful: true);
                    return;
                }
                end += read;
                OnBytesReceived(read);
                start = await DecodeAndDeliverAsync(buffer, start, end).ConfigureAwait(false);
                if (start == end) start = end = 0;
                if (!IsOpen) return;
            }
        }
        catch (FrameException fe)
        {
            var kind = fe.Error == FrameError.TooLarge ? CloseKind.FrameTooLarge : CloseKind.ProtocolError;
            Asio2Metrics.Drop(Transport, kind == CloseKind.FrameTooLarge ? "frame_too_large" : "illegal_frame");
            // Frames before the bad bytes were delivered; replies to them still go out before the close (asio2 does the same).
            ShutdownAfterPendingFrames(new CloseReason(kind, fe, fe.Message), graceful: true);
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

    /// <summary>Decodes every complete frame in buffer[start..end), delivers them as one batch, returns the new start.</summary>
    private ValueTask<int> DecodeAndDeliverAsync(byte[] buffer, int start, int end)
    {
        int[]? bounds = null;
        int count = 0;
        int first = start;
        try
        {
            while (start < end && _decoder.TryDecode(buffer.AsMemory(start, end - start), out var f))
            {
                bounds ??= ArrayPool<int>.Shared.Rent(16);
                if (2 * count + 2 > bounds.Length)
                {
                    var grown = ArrayPool<int>.Shared.Rent(bounds.Length * 2);
                    bounds.AsSpan(0, 2 * count).CopyTo(grown);
                    ArrayPool<int>.Shared.Return(bounds);
                    bounds = grown;
                }
                bounds[2 * count] = start - first + f.PayloadOffset;
                bounds[2 * count + 1] = f.PayloadLength;
                count++;
                start += f.Consumed;
                if (f.Consumed == 0) break; // a decoder that consumes nothing would spin
            }
        }
        catch (FrameException) when (count > 0)
        {
            // Deliver what was complete before the bad bytes, then report the error. Back-pressure does not
            // matter here: the session closes next.
            _ = DeliverAsync(CopyBatch(buffer, first, bounds!, count, start - first));
            throw;
        }
        if (count == 0) return new ValueTask<int>(start);
        var wait = DeliverAsync(CopyBatch(buffer, first, bounds!, count, start - first));
        return wait.IsCompletedSuccessfully ? new ValueTask<int>(start) : AwaitThen(wait, start);

        static async ValueTask<int> AwaitThen(ValueTask wait, int start)
        {
            await wait.ConfigureAwait(false);
            return start;
        }
    }

    /// <summary>Copies the bytes of a run of complete frames into one new array: the frames' immutable home.</summary>
    private FrameBatch CopyBatch(byte[] buffer, int first, int[] bounds, int count, int length)
    {
        var data = GC.AllocateUninitializedArray<byte>(length);
        Buffer.BlockCopy(buffer, first, data, 0, length);
        return new FrameBatch(this, data, bounds, count);
    }
}
