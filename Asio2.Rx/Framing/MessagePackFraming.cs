using System.Buffers.Binary;

namespace Asio2.Rx;

/// <summary>
/// One complete MessagePack value per frame (https://github.com/msgpack/msgpack/blob/master/spec.md).
/// </summary>
/// <remarks>
/// The decoder walks the value's headers without materialising anything. It does not use
/// <c>MessagePackReader.Skip()</c>: that restarts from the first byte on every call and throws
/// <c>EndOfStreamException</c> while the value is incomplete, so a peer dribbling one byte at a time would cost one
/// exception and one full rescan per byte. The walk here resumes where it stopped and never throws for "need more".
/// Tests check it against <c>MessagePackReader.Skip()</c> on random values.
/// </remarks>
internal sealed class MessagePackFraming : Framing
{
    internal MessagePackFraming(int maxFrameSize) : base(maxFrameSize)
    {
    }

    /// <summary>A value has no header around it: the payload is the whole frame.</summary>
    internal override int MaxEncodedFrameSize => MaxFrameSize;

    internal override FrameDecoder CreateDecoder() => new Decoder(MaxFrameSize);

    /// <summary>
    /// Per-connection: the walk position and how many values are still to be skipped. An array of n elements adds n
    /// values, a map 2n, so nesting needs no stack and its depth is unbounded at no cost.
    /// </summary>
    private sealed class Decoder(int maxFrameSize) : FrameDecoder
    {
        /// <summary>Offset of the next value header, from the start of the frame. May run ahead of the bytes received when a
        /// string or binary body is still arriving.</summary>
        private long _position;

        /// <summary>Values still to skip before the frame is complete.</summary>
        private long _pending = 1;

        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
        {
            ReadOnlySpan<byte> span = buffer.Span;
            long position = _position;
            long pending = _pending;
            while (pending > 0 && position < span.Length)
            {
                if (!TryReadHeader(span[(int)position..], out int headerLength, out long bodyLength, out long elements))
                    break;
                position += headerLength + bodyLength;
                pending += elements - 1;
                // Every pending value takes at least one more byte: reject as soon as the frame cannot fit,
                // before its bytes arrive. Both terms stay far from overflow because this check runs after every step.
                if (position + pending > maxFrameSize)
                    FramingThrowHelper.ThrowTooLarge(position + pending, maxFrameSize);
            }

            if (pending == 0 && position <= span.Length)
            {
                _position = 0;
                _pending = 1;
                frame = new FrameBounds((int)position, 0, (int)position);
                return true;
            }

            _position = position;
            _pending = pending;
            frame = default;
            return false;
        }

        /// <summary>
        /// Reads the header of the value at the start of <paramref name="span"/>: its length (type byte plus size or count field),
        /// the bytes of body that follow, and the number of nested values (elements of an array, keys and values of a map).
        /// False when the header itself is not complete yet.
        /// </summary>
        private static bool TryReadHeader(ReadOnlySpan<byte> span, out int headerLength, out long bodyLength, out long elements)
        {
            byte code = span[0];
            bodyLength = 0;
            elements = 0;
            // sizeField: width of the big-endian size/count after the type byte; scale: 0 = size of body, 1 = array count, 2 = map count.
            int sizeField = 0;
            int scale = 0;
            switch (code)
            {
                case <= 0x7F or >= 0xE0 or 0xC0 or 0xC2 or 0xC3: break;              // fixint, negative fixint, nil, false, true
                case <= 0x8F: elements = 2 * (code & 0x0F); break;                   // fixmap
                case <= 0x9F: elements = code & 0x0F; break;                         // fixarray
                case <= 0xBF: bodyLength = code & 0x1F; break;                       // fixstr
                case 0xC1: FramingThrowHelper.ThrowIllegalData("MessagePack type byte 0xC1 is never used"); break;
                case 0xC4 or 0xD9: sizeField = 1; break;                             // bin 8, str 8
                case 0xC5 or 0xDA: sizeField = 2; break;                             // bin 16, str 16
                case 0xC6 or 0xDB: sizeField = 4; break;                             // bin 32, str 32
                case 0xC7: sizeField = 1; bodyLength = 1; break;                     // ext 8 (+ type byte)
                case 0xC8: sizeField = 2; bodyLength = 1; break;                     // ext 16
                case 0xC9: sizeField = 4; bodyLength = 1; break;                     // ext 32
                case 0xCC or 0xD0: bodyLength = 1; break;                            // uint 8, int 8
                case 0xCD or 0xD1: bodyLength = 2; break;                            // uint 16, int 16
                case 0xCA or 0xCE or 0xD2: bodyLength = 4; break;                    // float 32, uint 32, int 32
                case 0xCB or 0xCF or 0xD3: bodyLength = 8; break;                    // float 64, uint 64, int 64
                case >= 0xD4 and <= 0xD8: bodyLength = 1 + (1 << (code - 0xD4)); break; // fixext 1..16 (+ type byte)
                case 0xDC: sizeField = 2; scale = 1; break;                          // array 16
                case 0xDD: sizeField = 4; scale = 1; break;                          // array 32
                case 0xDE: sizeField = 2; scale = 2; break;                          // map 16
                default: sizeField = 4; scale = 2; break;                            // map 32 (0xDF)
            }

            headerLength = 1 + sizeField;
            if (sizeField == 0)
                return true;
            if (span.Length < headerLength)
                return false;
            ReadOnlySpan<byte> field = span.Slice(1, sizeField);
            long size = sizeField switch
            {
                1 => field[0],
                2 => BinaryPrimitives.ReadUInt16BigEndian(field),
                _ => BinaryPrimitives.ReadUInt32BigEndian(field),
            };
            if (scale == 0)
                bodyLength += size;
            else
                elements = scale * size;
            return true;
        }
    }
}
