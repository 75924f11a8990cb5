namespace Asio2.Rx;

/// <summary>Settings of <see cref="Framing.LengthField(int, LengthFieldOptions?)"/>.</summary>
/// <remarks>
/// A frame is <see cref="Offset"/> bytes, the length field, then the body. The body length is the field's value plus
/// <see cref="Adjustment"/>. Two common shapes:
/// <list type="bullet">
/// <item>the field counts the body: <c>new LengthFieldOptions()</c> (all defaults);</item>
/// <item>the field counts the whole frame, itself included: <c>Adjustment = -(Offset + lengthSize)</c>.</item>
/// </list>
/// The framing copies these values when it is created.
/// </remarks>
public sealed class LengthFieldOptions
{
    private int _offset;
    private int _maxFrameSize = Framing.DefaultMaxFrameSize;

    /// <summary>Whether the length field is big-endian. Defaults to <c>true</c>: network byte order, the usual choice of
    /// binary protocols (SuperSocket's and Netty's length-field decoders default to it too).</summary>
    public bool BigEndian { get; set; } = true;

    /// <summary>Bytes before the length field (a message type, a magic number). Defaults to 0: the field usually opens the frame.
    /// With a non-zero offset the application sends whole frames itself, because only it knows what goes before the field.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Offset
    {
        get => _offset;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _offset = value;
        }
    }

    /// <summary>Added to the field's value to get the number of bytes after the field. Defaults to 0: the field counts
    /// exactly the bytes after it. Negative when the field also counts the header, positive when it leaves out a trailer.
    /// A body length that comes out negative is an illegal header.</summary>
    public int Adjustment { get; set; }

    /// <summary>Whether delivered payloads start with the header (the offset bytes and the length field). Defaults to <c>false</c>:
    /// applications usually want only the body; include the header when the bytes before the field say what the body is.</summary>
    public bool IncludeHeader { get; set; }

    /// <summary>The largest body (bytes after the length field) accepted; a larger announced length is rejected before the body
    /// arrives. Defaults to <see cref="Framing.DefaultMaxFrameSize"/> (1 MiB), so a hostile length cannot make a session buffer
    /// gigabytes. The framing lowers it to the most the field can express (255 for a 1-byte field with no adjustment).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxFrameSize
    {
        get => _maxFrameSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxFrameSize = value;
        }
    }
}
