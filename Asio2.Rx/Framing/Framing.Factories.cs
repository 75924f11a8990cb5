namespace Asio2.Rx;

// The public factories, in one place; each framing and its decoder live in their own file.
public abstract partial class Framing
{
    /// <summary>Raw chunks (the default): bytes as they arrive, one frame per read, at most 64 KiB each. asio2's <c>transfer_at_least(1)</c>.</summary>
    /// <remarks>Raw framing never rejects input and never reports a truncated frame: when the input ends, what is left is the last frame.</remarks>
    public static Framing Raw => RawFraming.Default;

    /// <summary>Raw chunks of at most <paramref name="maxChunkSize"/> bytes.</summary>
    /// <param name="maxChunkSize">The largest chunk handed out; longer reads are cut into several frames. At least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxChunkSize"/> is less than 1.</exception>
    public static Framing RawChunks(int maxChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkSize, 1);
        return new RawFraming(maxChunkSize);
    }

    /// <summary>Frames end with <paramref name="delimiter"/>.</summary>
    /// <param name="delimiter">The byte that ends each frame.</param>
    /// <param name="keepDelimiter">Whether payloads end with the delimiter. Sent payloads are written as they are either way.</param>
    /// <param name="maxFrameSize">The most bytes before the delimiter. At least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing Delimiter(byte delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize) =>
        new DelimiterFraming([delimiter], keepDelimiter, maxFrameSize);

    /// <summary>Frames end with the UTF-8 bytes of <paramref name="delimiter"/>.</summary>
    /// <param name="delimiter">The character that ends each frame, e.g. <c>'\n'</c>; not a lone surrogate.</param>
    /// <param name="keepDelimiter">Whether payloads end with the delimiter. Sent payloads are written as they are either way.</param>
    /// <param name="maxFrameSize">The most bytes before the delimiter. At least 1.</param>
    /// <exception cref="ArgumentException"><paramref name="delimiter"/> is a surrogate, which has no UTF-8 form on its own.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing Delimiter(char delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize) =>
        new DelimiterFraming(DelimiterFraming.Utf8(delimiter.ToString()), keepDelimiter, maxFrameSize);

    /// <summary>Frames end with the UTF-8 bytes of <paramref name="delimiter"/> (e.g. <c>"\r\n"</c>).</summary>
    /// <param name="delimiter">The text that ends each frame; not empty, no lone surrogates.</param>
    /// <param name="keepDelimiter">Whether payloads end with the delimiter. Sent payloads are written as they are either way.</param>
    /// <param name="maxFrameSize">The most bytes before the delimiter. At least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="delimiter"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="delimiter"/> is empty or is not valid UTF-16.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing Delimiter(string delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(delimiter);
        return new DelimiterFraming(DelimiterFraming.Utf8(delimiter), keepDelimiter, maxFrameSize);
    }

    /// <summary>Every frame is exactly <paramref name="size"/> bytes. asio2's <c>transfer_exactly(n)</c>.</summary>
    /// <param name="size">The frame size, which is also <see cref="MaxFrameSize"/>. At least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is less than 1.</exception>
    public static Framing FixedSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        return new FixedSizeFraming(size);
    }

    /// <summary>asio2's <c>use_dgram</c> length-prefixed framing (1, 1+2 or 1+8 byte little-endian header, shortest form).</summary>
    /// <param name="maxFrameSize">The largest payload accepted; a larger announced length is rejected before its payload arrives. At least 1.
    /// (asio2 has no limit by default; this one exists so a hostile header cannot make a session buffer gigabytes.)</param>
    /// <remarks>Headers in other than the shortest form are rejected with <see cref="FrameError.IllegalHeader"/>, as asio2 does.
    /// Sessions write the header on send.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing Datagram(int maxFrameSize = DefaultMaxFrameSize) => new DatagramFraming(maxFrameSize);

    /// <summary>A length field of <paramref name="lengthSize"/> bytes (1, 2, 3, 4 or 8).</summary>
    /// <param name="lengthSize">Width of the length field in bytes: 1, 2, 3, 4 or 8. Fields are unsigned; an 8-byte field with the top bit set is rejected.</param>
    /// <param name="options">Byte order, offset, adjustment and limits; null for the defaults (big-endian, field first, value = bytes after the field).
    /// The values are copied: changing the options afterwards does not change the framing.</param>
    /// <remarks>Sessions write the length field on send when <see cref="LengthFieldOptions.Offset"/> is 0; otherwise the application sends whole frames.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lengthSize"/> is not 1, 2, 3, 4 or 8.</exception>
    /// <exception cref="ArgumentException">The options describe no usable frame (the field cannot express a non-empty body after the adjustment, or the header is too large).</exception>
    public static Framing LengthField(int lengthSize, LengthFieldOptions? options = null) =>
        new LengthFieldFraming(lengthSize, options ?? new LengthFieldOptions());

    /// <summary>One complete MessagePack value per frame.</summary>
    /// <param name="maxFrameSize">The largest encoded value accepted. A value announcing more (a long string, binary, or many elements) is rejected before its bytes arrive. At least 1.</param>
    /// <remarks>The type byte <c>0xC1</c>, which MessagePack never uses, is rejected with <see cref="FrameError.IllegalData"/>.
    /// Nesting depth is not limited here (the scan is iterative, so depth costs no stack); limit it when deserialising,
    /// e.g. with <c>MessagePackSecurity.UntrustedData</c>.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing MessagePackObject(int maxFrameSize = DefaultMaxFrameSize) => new MessagePackFraming(maxFrameSize);

    /// <summary>A user-supplied matcher decides where frames end (asio2's <c>match_role</c>).</summary>
    /// <param name="matcher">Called with the unconsumed bytes, at most <paramref name="maxFrameSize"/> of them. It is called again from the
    /// start of the same bytes when more arrive, so it should be cheap or remember where it stopped.</param>
    /// <param name="maxFrameSize">The most bytes one frame may consume, header included. A matcher that still answers
    /// <see cref="FrameMatch.NeedMore"/> with this many bytes ends the input with <see cref="FrameError.TooLarge"/>. At least 1.</param>
    /// <remarks>A matcher answering <see cref="FrameMatch.Illegal"/> ends the input with <see cref="FrameError.IllegalData"/>.
    /// A frame consuming more bytes than the matcher was given is a bug in the matcher and throws <see cref="InvalidOperationException"/>.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="matcher"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxFrameSize"/> is less than 1.</exception>
    public static Framing Custom(FrameMatcher matcher, int maxFrameSize = DefaultMaxFrameSize)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        return new CustomFraming(() => matcher, maxFrameSize);
    }

    /// <summary>A matcher per connection, from <paramref name="createMatcher"/>: for a matcher that keeps state (where it
    /// stopped scanning, a parser's position), which must not be shared by connections. Otherwise as
    /// <see cref="Custom(FrameMatcher, int)"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="createMatcher"/> is null.</exception>
    public static Framing Custom(Func<FrameMatcher> createMatcher, int maxFrameSize = DefaultMaxFrameSize)
    {
        ArgumentNullException.ThrowIfNull(createMatcher);
        return new CustomFraming(createMatcher, maxFrameSize);
    }
}
