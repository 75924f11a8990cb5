using System.Buffers;

namespace Asio2.Rx;

/// <summary>
/// Decides whether <paramref name="buffer"/> starts with a complete frame: answers <see cref="FrameMatch.NeedMore"/>,
/// <see cref="FrameMatch.Illegal"/> or <see cref="FrameMatch.Frame(int)"/>. Used by <see cref="Framing.Custom(FrameMatcher, int)"/>.
/// </summary>
/// <param name="buffer">The unconsumed bytes, starting at the next frame: never empty, and valid only during the call.</param>
public delegate FrameMatch FrameMatcher(ReadOnlySequence<byte> buffer);

/// <summary>The answer of a <see cref="FrameMatcher"/>. <c>default</c> is <see cref="NeedMore"/>.</summary>
public readonly record struct FrameMatch
{
    private FrameMatch(FrameMatchKind kind, int consumed, int payloadOffset, int payloadLength)
    {
        Kind = kind;
        Consumed = consumed;
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
    }

    /// <summary>No complete frame yet: call again when more bytes have arrived.</summary>
    public static FrameMatch NeedMore => default;

    /// <summary>The bytes can never start a frame; the input is rejected with <see cref="FrameError.IllegalData"/>.</summary>
    public static FrameMatch Illegal => new(FrameMatchKind.Illegal, 0, 0, 0);

    internal FrameMatchKind Kind { get; }

    internal int Consumed { get; }

    internal int PayloadOffset { get; }

    internal int PayloadLength { get; }

    /// <summary>A frame of the first <paramref name="length"/> bytes, all of them delivered.</summary>
    /// <param name="length">Bytes in the frame; at least 1, so that every frame moves the input on.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is less than 1.</exception>
    public static FrameMatch Frame(int length) => Frame(length, 0, length);

    /// <summary>A frame of the first <paramref name="consumed"/> bytes, of which <paramref name="payloadLength"/> bytes from
    /// <paramref name="payloadOffset"/> are delivered (to drop a header or a delimiter).</summary>
    /// <param name="consumed">Bytes in the frame, header and trailer included; at least 1, so that every frame moves the input on.</param>
    /// <param name="payloadOffset">Where the payload starts within the frame.</param>
    /// <param name="payloadLength">Bytes of payload; the payload must end within the frame.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is negative, <paramref name="consumed"/> is 0, or the payload ends past the frame.</exception>
    public static FrameMatch Frame(int consumed, int payloadOffset, int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(consumed, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(payloadOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadLength, consumed - payloadOffset);
        return new FrameMatch(FrameMatchKind.Frame, consumed, payloadOffset, payloadLength);
    }

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        FrameMatchKind.NeedMore => "NeedMore",
        FrameMatchKind.Illegal => "Illegal",
        _ => $"Frame(consumed {Consumed}, payload {PayloadOffset}..{PayloadOffset + PayloadLength})",
    };
}

/// <summary>What a <see cref="FrameMatch"/> says.</summary>
internal enum FrameMatchKind : byte
{
    NeedMore,
    Illegal,
    Frame,
}
