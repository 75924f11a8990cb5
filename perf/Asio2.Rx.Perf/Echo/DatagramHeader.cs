using System.Buffers.Binary;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// asio2's datagram header, written out for the peers that do not use Asio2.Rx (pipelines, dotnetty): a length below 254
/// in one byte; <c>FE</c> and a little-endian uint16; <c>FF</c> and a little-endian int64. Same limit as
/// <see cref="Framing.DefaultMaxFrameSize"/>, so every peer rejects what Asio2.Rx rejects.
/// </summary>
internal static class DatagramHeader
{
    public const int MaxPayload = Framing.DefaultMaxFrameSize;

    /// <summary>The header's length for a payload of <paramref name="payload"/> bytes.</summary>
    public static int Length(int payload) => payload < 0xFE ? 1 : payload <= ushort.MaxValue ? 3 : 9;

    /// <summary>Writes the header of a payload of <paramref name="payload"/> bytes; returns its length.</summary>
    public static int Write(Span<byte> destination, int payload)
    {
        if (payload < 0xFE)
        {
            destination[0] = (byte)payload;
            return 1;
        }
        if (payload <= ushort.MaxValue)
        {
            destination[0] = 0xFE;
            BinaryPrimitives.WriteUInt16LittleEndian(destination[1..], (ushort)payload);
            return 3;
        }
        destination[0] = 0xFF;
        BinaryPrimitives.WriteInt64LittleEndian(destination[1..], payload);
        return 9;
    }

    /// <summary>
    /// Reads a header from the first bytes of <paramref name="first"/> (at least 9 bytes, or all that was received);
    /// false when it is not complete yet. Throws on a length above <see cref="MaxPayload"/> or a non-shortest form.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> first, out int headerLength, out int payload)
    {
        headerLength = payload = 0;
        if (first.IsEmpty) return false;
        long length;
        switch (first[0])
        {
            case < 0xFE:
                headerLength = 1;
                length = first[0];
                break;
            case 0xFE:
                if (first.Length < 3) return false;
                headerLength = 3;
                length = BinaryPrimitives.ReadUInt16LittleEndian(first[1..]);
                if (length < 0xFE) throw new InvalidDataException("FE header with a length below 254");
                break;
            default:
                if (first.Length < 9) return false;
                headerLength = 9;
                length = BinaryPrimitives.ReadInt64LittleEndian(first[1..]);
                if (length <= ushort.MaxValue) throw new InvalidDataException("FF header with a length below 65536");
                break;
        }
        if (length > MaxPayload) throw new InvalidDataException($"frame of {length} bytes, limit {MaxPayload}");
        payload = (int)length;
        return true;
    }
}
