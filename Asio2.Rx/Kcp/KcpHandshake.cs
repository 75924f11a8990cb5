using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>What a datagram on an asio2 KCP socket is, judged by its length alone.</summary>
internal enum KcpDatagramKind
{
    /// <summary>Neither: asio2 drops it (any length other than 12 or 24 and more).</summary>
    Illegal,

    /// <summary>Exactly 12 bytes: a handshake header (SYN, SYN-ACK or FIN).</summary>
    Handshake,

    /// <summary>24 bytes or more: KCP segments for <see cref="Kcp.Input"/>.</summary>
    Kcp,
}

/// <summary>A decoded 12-byte asio2 handshake header whose checksum verified.</summary>
/// <param name="Seq">SYN: the client's clock in ms. SYN-ACK: the conv. FIN: 0.</param>
/// <param name="Ack">SYN: the conv asked for, 0 to let the server pick. SYN-ACK: SYN.seq + 1. FIN: 0.</param>
/// <param name="Flags">The flag byte as sent, padding bits included (see <see cref="KcpHandshake"/> flag constants).</param>
/// <param name="Padding">Byte 9; asio2 sends 0 and checks it only through the checksum.</param>
internal readonly record struct KcpHandshakeHeader(uint Seq, uint Ack, byte Flags, byte Padding);

/// <summary>
/// asio2's 12-byte KCP handshake header (shared/asio2/vectors/README.md, "KCP over UDP"):
/// <c>seq</c> u32 big-endian, <c>ack</c> u32 big-endian, flags, padding, checksum. A two-way
/// handshake agrees on the conv: SYN (client → server), SYN-ACK (server → client); FIN closes.
/// </summary>
/// <remarks>
/// <para>
/// The checksum quirk: bytes 10–11 hold the RFC 1071 internet checksum of bytes 0–9 stored
/// <em>little</em>-endian, i.e. byte-swapped compared with TCP/UDP/IP, because asio2 sums native
/// (little-endian) words and writes the result big-endian. asio2 rejects the RFC-style big-endian value,
/// so this codec does too. Verification recomputes and compares; summing all 12 bytes does not give 0xFFFF.
/// </para>
/// <para>
/// Flag tests ignore the two low padding bits of the flag byte and require the six real bits to be
/// exactly the expected set, as asio2's receivers do; a SYN with those bits or a non-zero padding byte
/// is still a SYN when its checksum is right.
/// </para>
/// </remarks>
internal static class KcpHandshake
{
    /// <summary>Size of a handshake header in bytes.</summary>
    public const int Size = 12;

    /// <summary>Smallest KCP datagram: one segment header.</summary>
    public const int MinKcpSize = Kcp.Overhead;

    /// <summary>FIN flag: either side closes the session.</summary>
    public const byte Fin = 0x04;

    /// <summary>SYN flag: a client opens a session.</summary>
    public const byte Syn = 0x08;

    /// <summary>RST flag (defined by the layout, never sent by asio2).</summary>
    public const byte Rst = 0x10;

    /// <summary>PSH flag (defined by the layout, never sent by asio2).</summary>
    public const byte Psh = 0x20;

    /// <summary>ACK flag: with SYN, the server's reply.</summary>
    public const byte Ack = 0x40;

    /// <summary>URG flag (defined by the layout, never sent by asio2).</summary>
    public const byte Urg = 0x80;

    /// <summary>The six flag bits the flag test looks at; the two low bits are padding.</summary>
    private const byte FlagMask = 0xFC;

    /// <summary>Sorts a datagram by length: 12 is a handshake header, 24 or more is KCP, anything else is illegal.</summary>
    public static KcpDatagramKind Classify(int length) => length switch
    {
        Size => KcpDatagramKind.Handshake,
        >= MinKcpSize => KcpDatagramKind.Kcp,
        _ => KcpDatagramKind.Illegal,
    };

    /// <summary>
    /// The checksum of a header's first 10 bytes as asio2 writes it, big-endian, into bytes 10–11:
    /// the ones' complement of the end-around-carry sum of five little-endian 16-bit words.
    /// </summary>
    public static ushort ComputeChecksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i < 10; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16LittleEndian(header[i..]);
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }

    /// <summary>Writes a header with its checksum into the first 12 bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 12 bytes.</exception>
    public static void Write(Span<byte> destination, uint seq, uint ack, byte flags, byte padding = 0)
    {
        if (destination.Length < Size)
        {
            ThrowTooShort(nameof(destination));
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination, seq);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], ack);
        destination[8] = flags;
        destination[9] = padding;
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], ComputeChecksum(destination));
    }

    /// <summary>Writes a client's SYN: <paramref name="seq"/> is its clock in ms, <paramref name="requestedConv"/> 0 lets the server pick.</summary>
    public static void WriteSyn(Span<byte> destination, uint seq, uint requestedConv = 0) =>
        Write(destination, seq, requestedConv, Syn);

    /// <summary>Writes the server's SYN-ACK for a SYN with <paramref name="synSeq"/>, assigning <paramref name="conv"/>.</summary>
    public static void WriteSynAck(Span<byte> destination, uint conv, uint synSeq) =>
        Write(destination, conv, synSeq + 1, (byte)(Syn | Ack));

    /// <summary>Writes a FIN; it is always <c>00000000 00000000 0400 fffb</c>.</summary>
    public static void WriteFin(Span<byte> destination) => Write(destination, 0, 0, Fin);

    /// <summary>True when <paramref name="datagram"/> is 12 bytes whose checksum verifies.</summary>
    public static bool IsChecksumValid(ReadOnlySpan<byte> datagram) =>
        datagram.Length == Size && BinaryPrimitives.ReadUInt16BigEndian(datagram[10..]) == ComputeChecksum(datagram);

    /// <summary>Decodes a 12-byte header whose checksum verifies; false for any other datagram.</summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out KcpHandshakeHeader header)
    {
        if (!IsChecksumValid(datagram))
        {
            header = default;
            return false;
        }

        header = new KcpHandshakeHeader(
            BinaryPrimitives.ReadUInt32BigEndian(datagram),
            BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]),
            datagram[8],
            datagram[9]);
        return true;
    }

    /// <summary>
    /// True when <paramref name="datagram"/> is a valid SYN: 12 bytes, flags exactly SYN (padding bits
    /// ignored), checksum right. Only such a datagram may open a server session.
    /// </summary>
    public static bool IsSyn(ReadOnlySpan<byte> datagram) => TryParse(datagram, out KcpHandshakeHeader header) && HasFlags(header, Syn);

    /// <summary>
    /// True when <paramref name="datagram"/> is the SYN-ACK that answers a SYN with <paramref name="synSeq"/>:
    /// 12 bytes, flags exactly SYN|ACK, ack = synSeq + 1, checksum right. The conv is its seq.
    /// </summary>
    public static bool IsSynAckFor(ReadOnlySpan<byte> datagram, uint synSeq) =>
        TryParse(datagram, out KcpHandshakeHeader header) && HasFlags(header, Syn | Ack) && header.Ack == synSeq + 1;

    /// <summary>True when <paramref name="datagram"/> is a valid FIN: 12 bytes, flags exactly FIN, checksum right.</summary>
    public static bool IsFin(ReadOnlySpan<byte> datagram) => TryParse(datagram, out KcpHandshakeHeader header) && HasFlags(header, Fin);

    private static bool HasFlags(KcpHandshakeHeader header, int flags) => (header.Flags & FlagMask) == flags;

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(string paramName) =>
        throw new ArgumentException($"A handshake header needs {Size} bytes.", paramName);
}
