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
                        var bounds = new FrameBoundsList();
                        bounds.Add(last.PayloadOffset, last.PayloadLength);
                        await DeliverAsync(bounds.ToBatch(this, buffer, start, last.Consumed)).ConfigureAwait(false);
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
