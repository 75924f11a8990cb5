using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// asio2's <c>use_dgram</c> framing: a little-endian length header, then the payload.
/// <list type="bullet">
/// <item>length 0..253: one byte holding the length;</item>
/// <item>length 254..65535: <c>FE</c>, then the length as a uint16;</item>
/// <item>length 65536 and up: <c>FF</c>, then the length as an int64 (top bit clear).</item>
/// </list>
/// Only the shortest form is legal, in both directions, as in asio2 (see shared/asio2/vectors/dgram_framing.json).
/// </summary>
internal sealed class DatagramFraming : Framing
{
    private const byte Medium = 0xFE;
    private const byte Long = 0xFF;
    private const int MediumHeaderLength = 1 + sizeof(ushort);
    private const int LongHeaderLength = 1 + sizeof(long);

    private readonly Decoder _decoder;

    internal DatagramFraming(int maxFrameSize) : base(maxFrameSize)
    {
        _decoder = new Decoder(maxFrameSize);
        MaxEncodedFrameSize = CheckEncodedSize((long)HeaderLength(maxFrameSize) + maxFrameSize, nameof(maxFrameSize));
    }

    internal override int MaxEncodedFrameSize { get; }

    /// <summary>The decoder is stateless, so every connection shares one.</summary>
    internal override FrameDecoder CreateDecoder() => _decoder;

    internal override int GetHeaderLength(int payloadLength) => HeaderLength(payloadLength);

    internal override void WriteHeader(Span<byte> destination, int payloadLength)
    {
        Debug.Assert(payloadLength >= 0 && destination.Length == HeaderLength(payloadLength));
        if (payloadLength < Medium)
        {
            destination[0] = (byte)payloadLength;
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            destination[0] = Medium;
            BinaryPrimitives.WriteUInt16LittleEndian(destination[1..], (ushort)payloadLength);
        }
        else
        {
            destination[0] = Long;
            BinaryPrimitives.WriteInt64LittleEndian(destination[1..], payloadLength);
        }
    }

    private static int HeaderLength(int payloadLength) =>
        payloadLength < Medium ? 1 : payloadLength <= ushort.MaxValue ? MediumHeaderLength : LongHeaderLength;

    private sealed class Decoder(int maxFrameSize) : FrameDecoder
    {
        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame) => TryDecode(buffer.Span, out frame);

        public override int DecodeAll(byte[] buffer, int start, int end, ref FrameBoundsList bounds)
        {
            var span = buffer.AsSpan(start, end - start);
            int at = 0;
            while (at < span.Length && TryDecode(span[at..], out var f))
            {
                bounds.Add(at + f.PayloadOffset, f.PayloadLength, at + f.Consumed);
                at += f.Consumed;
            }
            return at;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryDecode(ReadOnlySpan<byte> span, out FrameBounds frame)
        {
            frame = default;
            if (span.IsEmpty)
                return false;

            int headerLength;
            long length;
            switch (span[0])
            {
                case < Medium:
                    headerLength = 1;
                    length = span[0];
                    break;
                case Medium:
                    if (span.Length < MediumHeaderLength)
                        return false;
                    headerLength = MediumHeaderLength;
                    length = BinaryPrimitives.ReadUInt16LittleEndian(span[1..]);
                    if (length < Medium)
                        FramingThrowHelper.ThrowIllegalHeader("a FE header announces fewer than 254 bytes; asio2 accepts only the shortest form");
                    break;
                default:
                    if (span.Length < LongHeaderLength)
                        return false;
                    headerLength = LongHeaderLength;
                    // Signed, as asio2 reads it: a set top bit is a negative length, rejected like any short one.
                    length = BinaryPrimitives.ReadInt64LittleEndian(span[1..]);
                    if (length <= ushort.MaxValue)
                        FramingThrowHelper.ThrowIllegalHeader("an FF header announces a negative length or fewer than 65536 bytes; asio2 accepts only the shortest form");
                    break;
            }

            // Rejected before waiting for the payload, so an announced length never makes anyone buffer it.
            if (length > maxFrameSize)
                FramingThrowHelper.ThrowTooLarge(length, maxFrameSize);
            if (span.Length - headerLength < length)
                return false;

            frame = new FrameBounds(headerLength + (int)length, headerLength, (int)length);
            return true;
        }
    }
}
