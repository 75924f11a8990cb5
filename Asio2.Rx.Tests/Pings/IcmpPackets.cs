using System.Buffers.Binary;
using System.Net;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

/// <summary>Builds ICMP packets byte by byte, independently of the codec's writer, for codec tests and the fake endpoint.</summary>
internal static class IcmpPackets
{
    public static readonly IPAddress Peer = IPAddress.Parse("192.0.2.7"); // TEST-NET-1, never a real host

    /// <summary>An ICMP echo message (no IP header) with a correct ICMPv4 checksum, or checksum 0 for ICMPv6.</summary>
    public static byte[] Echo(byte type, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload, bool ipv6 = false)
    {
        byte[] message = new byte[8 + payload.Length];
        message[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), identifier);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), sequence);
        payload.CopyTo(message.AsSpan(8));
        if (!ipv6) BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), IcmpCodec.Checksum(message));
        return message;
    }

    /// <summary>An echo reply as an IPv4 raw socket delivers it: a 20-byte IPv4 header (or longer, with option bytes) before the message.</summary>
    public static byte[] WithIPv4Header(byte[] icmp, byte ttl = 64, byte protocol = 1, int optionWords = 0)
    {
        int headerLength = 20 + 4 * optionWords;
        byte[] packet = new byte[headerLength + icmp.Length];
        packet[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = ttl;
        packet[9] = protocol;
        Peer.TryWriteBytes(packet.AsSpan(12), out _);
        IPAddress.Loopback.TryWriteBytes(packet.AsSpan(16), out _);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), IcmpCodec.Checksum(packet.AsSpan(0, headerLength)));
        icmp.CopyTo(packet, headerLength);
        return packet;
    }
}
