using System.Diagnostics;

namespace Asio2.Rx;

/// <summary>
/// A frame is <c>Offset</c> bytes, an unsigned length field of 1, 2, 3, 4 or 8 bytes, then a body of
/// field value + <c>Adjustment</c> bytes. See <see cref="LengthFieldOptions"/>.
/// </summary>
internal sealed class LengthFieldFraming : Framing
{
    private readonly Decoder _decoder;
    private readonly int _lengthSize;
    private readonly int _offset;
    private readonly int _adjustment;
    private readonly bool _bigEndian;

    internal LengthFieldFraming(int lengthSize, LengthFieldOptions options)
        : base(EffectiveMaxFrameSize(lengthSize, options))
    {
        _lengthSize = lengthSize;
        _offset = options.Offset;
        _adjustment = options.Adjustment;
        _bigEndian = options.BigEndian;
        int headerLength = CheckEncodedSize((long)_offset + lengthSize, nameof(options));
        MaxEncodedFrameSize = CheckEncodedSize((long)headerLength + MaxFrameSize, nameof(options));
        _decoder = new Decoder(this, headerLength, options.IncludeHeader);
    }

    internal override int MaxEncodedFrameSize { get; }

    /// <summary>The decoder is stateless, so every connection shares one.</summary>
    internal override FrameDecoder CreateDecoder() => _decoder;

    /// <summary>The field is written only when it opens the frame; otherwise the application writes the bytes before it.</summary>
    internal override int GetHeaderLength(int payloadLength) => _offset == 0 ? _lengthSize : 0;

    internal override void WriteHeader(Span<byte> destination, int payloadLength)
    {
        if (_offset != 0)
            return;
        Debug.Assert(destination.Length == _lengthSize && payloadLength <= MaxFrameSize);
        long value = (long)payloadLength - _adjustment;
        if (value < 0)
            throw new ArgumentOutOfRangeException(nameof(payloadLength), $"a payload of {payloadLength} bytes cannot be announced: with Adjustment {_adjustment} the length field would be negative");
        WriteField(destination, (ulong)value, _bigEndian);
    }

    /// <summary>The options' limit, lowered to the largest body the field can announce, so every accepted payload can be sent.</summary>
    private static int EffectiveMaxFrameSize(int lengthSize, LengthFieldOptions options)
    {
        if (lengthSize is not (1 or 2 or 3 or 4 or 8))
            throw new ArgumentOutOfRangeException(nameof(lengthSize), lengthSize, "A length field is 1, 2, 3, 4 or 8 bytes.");
        // From 4 bytes up the field reaches past int.MaxValue even after the most negative adjustment.
        if (lengthSize >= 4)
            return options.MaxFrameSize;
        long largestBody = (1L << (8 * lengthSize)) - 1 + options.Adjustment;
        if (largestBody < 1)
            throw new ArgumentException($"A {lengthSize}-byte length field with Adjustment {options.Adjustment} cannot announce a non-empty body.", nameof(options));
        return (int)Math.Min(options.MaxFrameSize, largestBody);
    }

    // Fields are at most 8 bytes, so a byte loop costs next to nothing and covers the 3-byte width too.
    private static ulong ReadField(ReadOnlySpan<byte> field, bool bigEndian)
    {
        ulong value = 0;
        for (int i = 0; i < field.Length; i++)
            value |= (ulong)field[i] << (8 * (bigEndian ? field.Length - 1 - i : i));
        return value;
    }

    private static void WriteField(Span<byte> field, ulong value, bool bigEndian)
    {
        for (int i = 0; i < field.Length; i++)
            field[i] = (byte)(value >> (8 * (bigEndian ? field.Length - 1 - i : i)));
    }

    private sealed class Decoder(LengthFieldFraming framing, int headerLength, bool includeHeader) : FrameDecoder
    {
        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
        {
            ReadOnlySpan<byte> span = buffer.Span;
            frame = default;
            if (span.Length < headerLength)
                return false;

            ulong field = ReadField(span.Slice(framing._offset, framing._lengthSize), framing._bigEndian);
            int adjustment = framing._adjustment;
            // Read as signed, an 8-byte field with the top bit set is negative; and field + adjustment must not wrap.
            if (field > long.MaxValue || (adjustment > 0 && (long)field > long.MaxValue - adjustment))
                FramingThrowHelper.ThrowIllegalHeader("the length field overflows a signed 64-bit length");
            long body = (long)field + adjustment;
            if (body < 0)
                FramingThrowHelper.ThrowIllegalHeader("the length field plus Adjustment is negative");
            // Rejected before waiting for the body, so an announced length never makes anyone buffer it.
            if (body > framing.MaxFrameSize)
                FramingThrowHelper.ThrowTooLarge(body, framing.MaxFrameSize);
            if (span.Length - headerLength < body)
                return false;

            int consumed = headerLength + (int)body;
            frame = includeHeader ? new FrameBounds(consumed, 0, consumed) : new FrameBounds(consumed, headerLength, (int)body);
            return true;
        }
    }
}
