namespace Asio2.Rx;

/// <summary>
/// How a byte stream is cut into frames, and how frames are written back. One instance describes
/// the rule and is safe to share; each connection gets its own decoder from it.
/// </summary>
/// <remarks>
/// Pick one with the static factories: <see cref="Raw"/>, <see cref="Delimiter(string, bool, int)"/>,
/// <see cref="FixedSize(int)"/>, <see cref="Datagram(int)"/>, <see cref="LengthField(int, LengthFieldOptions?)"/>,
/// <see cref="MessagePackObject(int)"/> and <see cref="Custom(FrameMatcher, int)"/>.
/// Every framing has a maximum frame size; a longer frame ends the session with
/// <see cref="CloseKind.FrameTooLarge"/> (or, through the <c>Frame</c> operator, a <see cref="FrameException"/>).
/// </remarks>
public abstract partial class Framing
{
    /// <summary>The default maximum frame size: 1 MiB. Large enough for typical messages, small enough
    /// that a hostile length header cannot make a session buffer gigabytes.</summary>
    public const int DefaultMaxFrameSize = 1024 * 1024;

    private protected Framing(int maxFrameSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameSize, 1);
        MaxFrameSize = maxFrameSize;
    }

    /// <summary>The largest payload (excluding any header) this framing accepts.</summary>
    public int MaxFrameSize { get; }

    /// <summary>The most bytes one undecoded frame can occupy in a receive buffer (payload plus header/delimiter).
    /// A decoder given this many bytes either returns a frame or throws, so a receive buffer never needs to grow past it.</summary>
    internal virtual int MaxEncodedFrameSize => MaxFrameSize + 16;

    /// <summary>Checks that a frame of <paramref name="encodedSize"/> bytes fits in one array, so a read loop can buffer it.</summary>
    private protected static int CheckEncodedSize(long encodedSize, string paramName)
    {
        if (encodedSize > Array.MaxLength)
            throw new ArgumentOutOfRangeException(paramName, $"a frame of {encodedSize} bytes (header included) does not fit in one array");
        return (int)encodedSize;
    }

    /// <summary>Creates the per-connection decoder. Decoders may keep scan state between calls.</summary>
    internal abstract FrameDecoder CreateDecoder();

    /// <summary>Length of the header <see cref="WriteHeader"/> writes before a payload of <paramref name="payloadLength"/> bytes; 0 for framings that send payloads as they are.</summary>
    internal virtual int GetHeaderLength(int payloadLength) => 0;

    /// <summary>Writes the header for a payload of <paramref name="payloadLength"/> bytes into <paramref name="destination"/> (exactly <see cref="GetHeaderLength"/> bytes).</summary>
    internal virtual void WriteHeader(Span<byte> destination, int payloadLength) { }

    /// <summary>Returns <paramref name="payload"/> as it goes on the wire: header included, for framings that have one.
    /// Sessions do this on <c>Send</c> already; this is for sending framed bytes by other means.</summary>
    public byte[] Encode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxFrameSize) throw new FrameException(FrameError.TooLarge, $"payload of {payload.Length} bytes exceeds MaxFrameSize {MaxFrameSize}");
        int h = GetHeaderLength(payload.Length);
        var result = new byte[h + payload.Length];
        WriteHeader(result.AsSpan(0, h), payload.Length);
        payload.CopyTo(result.AsSpan(h));
        return result;
    }
}

/// <summary>Where one decoded frame sits at the start of a buffer.</summary>
/// <param name="Consumed">Bytes the frame occupies, header and delimiter included.</param>
/// <param name="PayloadOffset">Offset of the payload delivered to the application.</param>
/// <param name="PayloadLength">Length of the payload delivered to the application.</param>
internal readonly record struct FrameBounds(int Consumed, int PayloadOffset, int PayloadLength);

/// <summary>
/// A per-connection, synchronous decoder. Pure: no I/O, no Rx. Not thread-safe (one per connection).
/// </summary>
internal abstract class FrameDecoder
{
    /// <summary>
    /// Looks for one complete frame at the start of <paramref name="buffer"/>.
    /// Returns false when more bytes are needed. Throws <see cref="FrameException"/> on illegal or oversize input.
    /// After a true result the caller drops <see cref="FrameBounds.Consumed"/> bytes and calls again with the rest.
    /// </summary>
    /// <remarks>
    /// After a false result the next call must pass the same bytes again, possibly followed by more: decoders
    /// remember how far they have scanned and resume there, so feeding a frame byte by byte stays O(n).
    /// A false result means fewer than <see cref="Framing.MaxEncodedFrameSize"/> bytes are buffered.
    /// Consumed is at least 1 for every frame.
    /// </remarks>
    public abstract bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame);

    /// <summary>
    /// Decodes every complete frame in buffer[start..end) into <paramref name="bounds"/> (offsets relative to
    /// <paramref name="start"/>) and returns how many bytes they took. Throws <see cref="FrameException"/> at illegal
    /// input, with the frames before it already in <paramref name="bounds"/>.
    /// </summary>
    /// <remarks>One <see cref="TryDecode"/> call per frame; a stateless decoder overrides it with a loop over the span
    /// (no call and no <see cref="Memory{T}"/> per frame).</remarks>
    public virtual int DecodeAll(byte[] buffer, int start, int end, ref FrameBoundsList bounds)
    {
        int at = start;
        while (at < end && TryDecode(buffer.AsMemory(at, end - at), out var f))
        {
            bounds.Add(at - start + f.PayloadOffset, f.PayloadLength, at - start + f.Consumed);
            at += f.Consumed;
            if (f.Consumed == 0) break; // a decoder that consumes nothing would spin
        }
        return at - start;
    }

    /// <summary>Called when the input ends with <paramref name="remaining"/> undecoded bytes (&gt; 0).
    /// Raw framing hands them out; the others report a truncated frame.</summary>
    /// <remarks>Call it again with what is left after each true result; a false result with bytes left means
    /// the input ended mid-frame (<see cref="FrameError.Truncated"/>).</remarks>
    public virtual bool TryDecodeFinal(ReadOnlyMemory<byte> remaining, out FrameBounds frame)
    {
        frame = default;
        return false;
    }
}

/// <summary>Why a framing rejected input.</summary>
public enum FrameError
{
    /// <summary>A frame (or its announced length) exceeds the framing's maximum frame size.</summary>
    TooLarge,
    /// <summary>A length header is malformed: negative, not in shortest form, or otherwise impossible.</summary>
    IllegalHeader,
    /// <summary>A custom matcher or a MessagePack framing found bytes that can never become a frame.</summary>
    IllegalData,
    /// <summary>The input ended in the middle of a frame.</summary>
    Truncated,
}

/// <summary>Input that a <see cref="Framing"/> rejects. Sessions turn it into a close reason; the <c>Frame</c> operator into OnError.</summary>
public sealed class FrameException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FrameException(FrameError error, string message) : base(message) => Error = error;

    /// <summary>What was wrong with the input.</summary>
    public FrameError Error { get; }
}
