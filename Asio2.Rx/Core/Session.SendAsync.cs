using System.Buffers;

namespace Asio2.Rx;

public abstract partial class Session
{
    /// <summary>
    /// Sends <paramref name="data"/> as one frame, waiting for room in the send queue instead of applying
    /// <see cref="SessionOptions.SendQueueFullPolicy"/>: past <see cref="SessionOptions.MaxSendQueueBytes"/> (the high
    /// water mark) it waits until the queue has drained to half of it (the low water mark). Completes when the frame
    /// has been written to the transport; faults with <see cref="SessionClosedException"/> if the session closes first,
    /// <see cref="SendRejectedException"/> (<see cref="SendRejection.TooLarge"/>) for a payload over the framing's
    /// maximum frame. Keep <paramref name="data"/> unchanged until it completes: large payloads are copied piece by piece.
    /// </summary>
    /// <remarks>
    /// Cancelling before the frame has started leaves the session as it was. Cancelling in the middle of a frame that
    /// has a length header, or of a WebSocket message sent in fragments, closes the session
    /// (<see cref="CloseKind.LocalAbort"/>): the peer could not find the next frame. Without a header (raw bytes) the bytes queued so far stay sent. Sends made while a large frame is being
    /// queued go out after it, in order.
    /// </remarks>
    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        _sendQueue.EnqueueAsync(data, FrameKind.Binary, cancellationToken);

    /// <summary>Sends <paramref name="data"/> as one message of <paramref name="kind"/>; otherwise as
    /// <see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>. Transports without kinds ignore it.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> data, FrameKind kind, CancellationToken cancellationToken = default) =>
        _sendQueue.EnqueueAsync(data, kind, cancellationToken);

    /// <summary>
    /// Sends the rest of <paramref name="source"/> as one frame, read one piece at a time as room frees up in the send
    /// queue, so a file or a body of any size costs at most the queue's bound plus one piece. Framings with a length
    /// header need the length up front: a seekable stream gives it; an unseekable one is gathered first, up to the
    /// framing's maximum frame. Message transports (UDP, KCP) send one message, gathered first; a WebSocket session sends
    /// one message in fragments of at most 32 KiB, each queued when there is room. The stream is not
    /// disposed. Completes when the frame has been written; see <see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
    /// for cancellation and ordering.
    /// </summary>
    public Task SendAsync(Stream source, CancellationToken cancellationToken = default) =>
        SendAsync(source, FrameKind.Binary, cancellationToken);

    /// <summary>Sends the rest of <paramref name="source"/> as one message of <paramref name="kind"/>; see
    /// <see cref="SendAsync(Stream, CancellationToken)"/>.</summary>
    public Task SendAsync(Stream source, FrameKind kind, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        return _sendQueue.SendStreamedAsync(new StreamChunks(source, SendQueue.PieceSize), kind, cancellationToken);
    }

    /// <summary>Sends <paramref name="data"/> as one frame (one header for the whole sequence), segment by segment as
    /// room frees up; see <see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    public Task SendAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken = default) =>
        SendAsync(data, FrameKind.Binary, cancellationToken);

    /// <summary>Sends <paramref name="data"/> as one message of <paramref name="kind"/>; see
    /// <see cref="SendAsync(ReadOnlySequence{byte}, CancellationToken)"/>.</summary>
    public Task SendAsync(ReadOnlySequence<byte> data, FrameKind kind, CancellationToken cancellationToken = default) =>
        _sendQueue.SendStreamedAsync(new SequenceChunks(data), kind, cancellationToken);

    /// <summary>
    /// Sends the pieces <paramref name="chunks"/> pushes, until it completes, as one frame. The observable is
    /// subscribed when the frame's turn comes; an observable cannot be paused, so pieces pushed faster than the peer
    /// reads wait (by reference: each piece must stay unchanged, like a <see cref="Frame"/>'s bytes). Framings with a
    /// length header and message transports gather the pieces first, up to the maximum frame; a WebSocket session
    /// sends them as fragments of one message. An error from the
    /// observable faults the returned task (and, mid-frame under a length header, closes the session).
    /// </summary>
    public Task SendAsync(IObservable<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default) =>
        SendAsync(chunks, FrameKind.Binary, cancellationToken);

    /// <summary>Sends the pieces as one message of <paramref name="kind"/>; see
    /// <see cref="SendAsync(IObservable{ReadOnlyMemory{byte}}, CancellationToken)"/>.</summary>
    public Task SendAsync(IObservable<ReadOnlyMemory<byte>> chunks, FrameKind kind, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        return _sendQueue.SendStreamedAsync(new ObservableChunks(chunks), kind, cancellationToken);
    }
}
