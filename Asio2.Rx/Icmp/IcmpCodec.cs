using System.Buffers.Binary;

namespace Asio2.Rx;

/// <summary>What <see cref="IcmpCodec.Parse"/> made of one received packet.</summary>
internal enum IcmpPacketKind
{
    /// <summary>A well-formed echo reply; identifier and sequence are not checked yet.</summary>
    EchoReply,
    /// <summary>A well-formed packet that is not an echo reply: our own echo request looped back on a raw socket,
    /// other ICMP traffic of the host (raw sockets see all of it), a non-ICMP IPv4 packet.</summary>
    Other,
    /// <summary>Truncated, an impossible IPv4 header length, or a bad ICMPv4 checksum.</summary>
    Malformed,
}

/// <summary>The fields of an echo reply that the ping matcher needs.</summary>
/// <param name="Identifier">The echo identifier (RFC 792 / RFC 4443 §4.2).</param>
/// <param name="Sequence">The 16-bit echo sequence number.</param>
/// <param name="Ttl">The IPv4 TTL, when the packet carried its IPv4 header; otherwise null.</param>
/// <param name="Bytes">Length of the ICMP message (header and payload), what <c>ping</c> prints as "N bytes from".</param>
internal readonly record struct EchoReplyHeader(ushort Identifier, ushort Sequence, int? Ttl, int Bytes);

/// <summary>
/// ICMP echo encoding and decoding (RFC 792 for IPv4, RFC 4443 for IPv6). Pure and synchronous: no socket, no Rx.
/// </summary>
internal static class IcmpCodec
{
    /// <summary>Type, code, checksum, identifier, sequence: 8 bytes before the payload.</summary>
    public const int HeaderSize = 8;
    /// <summary>The smallest IPv4 header (IHL 5).</summary>
    public const int MinIPv4HeaderSize = 20;
    /// <summary>The largest echo payload that fits one IPv4 datagram: 65535 - 20 (IPv4 header) - 8 (ICMP header).
    /// IPv6 allows 20 bytes more; one limit for both keeps the option simple.</summary>
    public const int MaxPayloadSize = ushort.MaxValue - MinIPv4HeaderSize - HeaderSize;

    public const byte EchoRequestV4 = 8;
    public const byte EchoReplyV4 = 0;
    public const byte EchoRequestV6 = 128;
    public const byte EchoReplyV6 = 129;
    private const byte IPv4ProtocolIcmp = 1;

    /// <summary>
    /// Writes an echo request into <paramref name="destination"/> and returns its length (<see cref="HeaderSize"/> + payload).
    /// The ICMPv4 checksum is computed here; the ICMPv6 checksum is left 0 because it covers a pseudo-header with the
    /// source address, which the kernel picks and fills in (RFC 3542 §3.1: the kernel computes it on ICMPv6 raw sockets).
    /// </summary>
    public static int WriteEchoRequest(Span<byte> destination, bool ipv6, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        int length = HeaderSize + payload.Length;
        Span<byte> message = destination[..length];
        message[0] = ipv6 ? EchoRequestV6 : EchoRequestV4;
        message[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(message[4..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(message[6..], sequence);
        payload.CopyTo(message[HeaderSize..]);
        if (!ipv6) BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum(message));
        return length;
    }

    /// <summary>
    /// The RFC 1071 Internet checksum: the one's complement of the one's complement sum of 16-bit big-endian words,
    /// an odd trailing byte padded with zero. Over a message that contains its own correct checksum the result is 0.
    /// </summary>
    public static ushort Checksum(ReadOnlySpan<byte> data)
    {
        // 32 bits cannot overflow: at most 32767 words of at most 0xFFFF each (data is at most 64 KiB).
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>
    /// Parses one packet as read from an ICMP socket: an ICMP message, preceded by its IPv4 header when the socket
    /// delivers one. IPv4 raw sockets always do; datagram ICMP sockets do on macOS but not on Linux; IPv6 sockets never do.
    /// The header is recognised by its version nibble 4, which no ICMPv4 message type starts with (types 64–79 are unassigned).
    /// </summary>
    public static IcmpPacketKind Parse(ReadOnlySpan<byte> packet, bool ipv6, out EchoReplyHeader reply)
    {
        reply = default;
        int? ttl = null;
        if (!ipv6 && packet.Length > 0 && packet[0] >> 4 == 4)
        {
            int headerLength = (packet[0] & 0x0F) * 4;
            if (headerLength < MinIPv4HeaderSize || packet.Length < headerLength) return IcmpPacketKind.Malformed;
            if (packet[9] != IPv4ProtocolIcmp) return IcmpPacketKind.Other;
            ttl = packet[8];
            // The IPv4 total-length field is not trusted: some BSDs hand it to raw sockets in host order, minus the header.
            packet = packet[headerLength..];
        }

        if (packet.Length < HeaderSize) return IcmpPacketKind.Malformed;
        if (packet[0] != (ipv6 ? EchoReplyV6 : EchoReplyV4)) return IcmpPacketKind.Other;
        // ICMPv6 checksums are verified by the kernel before a raw or datagram socket sees the packet (Linux rawv6_rcv);
        // verifying them here would need the pseudo-header with our own address. ICMPv4 raw sockets get a copy before
        // icmp_rcv checks anything, so a corrupt reply must be caught here.
        if (!ipv6 && Checksum(packet) != 0) return IcmpPacketKind.Malformed;

        reply = new EchoReplyHeader(
            BinaryPrimitives.ReadUInt16BigEndian(packet[4..]),
            BinaryPrimitives.ReadUInt16BigEndian(packet[6..]),
            ttl,
            packet.Length);
        return IcmpPacketKind.EchoReply;
    }
}
