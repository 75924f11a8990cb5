using System.Buffers;

namespace Asio2.Rx;

/// <summary>The (payload offset, payload length, encoding end) triples of the frames of one <see cref="FrameBatch"/>, in
/// an array rented from <see cref="ArrayPool{T}.Shared"/> (the batch returns it). Not thread-safe.</summary>
internal struct FrameBoundsList
{
    private int[]? _pairs;

    public int Count { get; private set; }

    /// <summary>Where the last frame's encoding ends (0 without frames).</summary>
    public readonly int End => Count == 0 ? 0 : _pairs![3 * Count - 1];

    /// <summary>Adds a frame whose encoding ends with its payload (messages, which have no header or delimiter).</summary>
    public void Add(int offset, int length) => Add(offset, length, offset + length);

    /// <summary>Adds a frame: its payload, and where its encoding (header, payload, delimiter) ends.</summary>
    public void Add(int offset, int length, int end)
    {
        _pairs ??= ArrayPool<int>.Shared.Rent(24);
        if (3 * Count + 3 > _pairs.Length)
        {
            var grown = ArrayPool<int>.Shared.Rent(_pairs.Length * 2);
            _pairs.AsSpan(0, 3 * Count).CopyTo(grown);
            ArrayPool<int>.Shared.Return(_pairs);
            _pairs = grown;
        }
        _pairs[3 * Count] = offset;
        _pairs[3 * Count + 1] = length;
        _pairs[3 * Count + 2] = end;
        Count++;
    }

    /// <summary>Makes the batch: copies <paramref name="length"/> bytes from <paramref name="buffer"/> at
    /// <paramref name="first"/> into one new array (the frames' immutable home) and hands the pairs to it.</summary>
    public FrameBatch ToBatch(Session session, byte[] buffer, int first, int length, FrameKind kind = FrameKind.Binary)
    {
        var data = GC.AllocateUninitializedArray<byte>(length);
        Buffer.BlockCopy(buffer, first, data, 0, length);
        var batch = new FrameBatch(session, data, _pairs, Count) { Kind = kind };
        _pairs = null;
        Count = 0;
        return batch;
    }
}

/// <summary>Cuts complete frames off the front of a receive buffer with a <see cref="FrameDecoder"/>: shared by every
/// session that receives a byte stream (TCP, TLS, serial, in-memory, KCP in stream mode).</summary>
internal static class FrameCutter
{
    /// <summary>
    /// Decodes the complete frames in buffer[start..end) into <paramref name="bounds"/> (offsets relative to
    /// <paramref name="start"/>) and returns how many bytes they took. Illegal input stops the cut: the frames before
    /// it are kept and the reason is returned in <paramref name="error"/>, so they can be delivered before the close.
    /// <paramref name="bounds"/> starts empty.
    /// </summary>
    public static int Cut(FrameDecoder decoder, byte[] buffer, int start, int end, ref FrameBoundsList bounds, out FrameException? error)
    {
        error = null;
        try
        {
            return decoder.DecodeAll(buffer, start, end, ref bounds);
        }
        catch (FrameException fe)
        {
            error = fe;
            return bounds.End;
        }
    }

    /// <summary>The close reason a framing error maps to, and the drop it is counted as.</summary>
    public static (CloseReason Reason, string Drop) Classify(FrameException error) => error.Error == FrameError.TooLarge
        ? (new CloseReason(CloseKind.FrameTooLarge, error, error.Message), "frame_too_large")
        : (new CloseReason(CloseKind.ProtocolError, error, error.Message), "illegal_frame");
}
