using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

public sealed class IcmpCodecTests
{
    private const ushort Id = 0xBEEF;
    private static readonly byte[] Payload = "abcdefghijklmnopqrstuvwabcdefghi"u8.ToArray(); // no zero bytes: see the prefix test

    [Fact]
    public void Checksum_of_the_rfc_1071_example_is_0x220d()
    {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 after the end-around carry.
        Assert.Equal(0x220d, IcmpCodec.Checksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]));
    }

    [Fact]
    public void Checksum_pads_an_odd_trailing_byte_with_zero()
    {
        Assert.Equal(IcmpCodec.Checksum([0x12, 0x34, 0x56, 0x00]), IcmpCodec.Checksum([0x12, 0x34, 0x56]));
    }

    [Fact]
    public void Checksum_of_nothing_is_all_ones()
    {
        Assert.Equal(0xFFFF, IcmpCodec.Checksum([]));
    }

    [Fact]
    public void An_ipv4_echo_request_is_type_8_code_0_with_identifier_sequence_and_checksum_big_endian()
    {
        byte[] buffer = new byte[16];

        int length = IcmpCodec.WriteEchoRequest(buffer, ipv6: false, identifier: 0x1234, sequence: 1, [0xAB, 0xCD]);

        // 0x0800 + 0x1234 + 0x0001 + 0xABCD = 0xC602; one's complement 0x39FD.
        Assert.Equal([0x08, 0x00, 0x39, 0xFD, 0x12, 0x34, 0x00, 0x01, 0xAB, 0xCD], buffer[..length]);
        Assert.Equal(0, IcmpCodec.Checksum(buffer.AsSpan(0, length)));
    }

    [Fact]
    public void An_ipv6_echo_request_is_type_128_with_the_checksum_left_to_the_kernel()
    {
        byte[] buffer = new byte[8];

        IcmpCodec.WriteEchoRequest(buffer, ipv6: true, identifier: 0x1234, sequence: 0xFFFF, []);

        Assert.Equal([0x80, 0x00, 0x00, 0x00, 0x12, 0x34, 0xFF, 0xFF], buffer);
    }

    [Fact]
    public void A_reply_with_its_ipv4_header_yields_identifier_sequence_ttl_and_icmp_size()
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 513, Payload), ttl: 42);

        Assert.Equal(IcmpPacketKind.EchoReply, IcmpCodec.Parse(packet, ipv6: false, out EchoReplyHeader reply));
        Assert.Equal(new EchoReplyHeader(Id, 513, 42, 8 + Payload.Length), reply);
    }

    [Fact]
    public void A_reply_with_ipv4_header_options_is_read_past_the_header_length()
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, Payload), ttl: 9, optionWords: 3);

        Assert.Equal(IcmpPacketKind.EchoReply, IcmpCodec.Parse(packet, ipv6: false, out EchoReplyHeader reply));
        Assert.Equal(new EchoReplyHeader(Id, 7, 9, 8 + Payload.Length), reply);
    }

    [Fact]
    public void A_reply_without_ipv4_header_as_datagram_sockets_deliver_it_has_no_ttl()
    {
        byte[] packet = IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, Payload);

        Assert.Equal(IcmpPacketKind.EchoReply, IcmpCodec.Parse(packet, ipv6: false, out EchoReplyHeader reply));
        Assert.Equal(new EchoReplyHeader(Id, 7, null, 8 + Payload.Length), reply);
    }

    [Fact]
    public void An_icmpv6_reply_is_parsed_without_header_or_checksum_check()
    {
        byte[] packet = IcmpPackets.Echo(IcmpCodec.EchoReplyV6, Id, 7, Payload, ipv6: true);

        Assert.Equal(IcmpPacketKind.EchoReply, IcmpCodec.Parse(packet, ipv6: true, out EchoReplyHeader reply));
        Assert.Equal(new EchoReplyHeader(Id, 7, null, 8 + Payload.Length), reply);
    }

    [Theory]
    [InlineData(IcmpCodec.EchoRequestV4, false)] // our own request, looped back to a raw socket
    [InlineData(3, false)]                       // destination unreachable
    [InlineData(IcmpCodec.EchoReplyV4, true)]    // an ICMPv4 type on an ICMPv6 socket
    [InlineData(IcmpCodec.EchoRequestV6, true)]
    [InlineData(135, true)]                      // neighbour solicitation
    public void Packets_that_are_not_echo_replies_are_other(byte type, bool ipv6)
    {
        byte[] packet = IcmpPackets.Echo(type, Id, 7, Payload, ipv6);
        if (!ipv6) packet = IcmpPackets.WithIPv4Header(packet);

        Assert.Equal(IcmpPacketKind.Other, IcmpCodec.Parse(packet, ipv6, out _));
    }

    [Fact]
    public void An_ipv4_packet_that_is_not_icmp_is_other()
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, Payload), protocol: 17);

        Assert.Equal(IcmpPacketKind.Other, IcmpCodec.Parse(packet, ipv6: false, out _));
    }

    [Fact]
    public void Every_truncated_prefix_of_a_reply_with_ipv4_header_is_malformed()
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, Payload));

        for (int length = 0; length < packet.Length; length++)
            Assert.True(IcmpCodec.Parse(packet.AsSpan(0, length), ipv6: false, out _) == IcmpPacketKind.Malformed, $"prefix of {length} bytes");
    }

    [Fact]
    public void Every_icmpv6_prefix_shorter_than_the_echo_header_is_malformed()
    {
        byte[] packet = IcmpPackets.Echo(IcmpCodec.EchoReplyV6, Id, 7, Payload, ipv6: true);

        for (int length = 0; length < IcmpCodec.HeaderSize; length++)
            Assert.True(IcmpCodec.Parse(packet.AsSpan(0, length), ipv6: true, out _) == IcmpPacketKind.Malformed, $"prefix of {length} bytes");
    }

    [Fact]
    public void An_ipv4_reply_with_a_flipped_bit_fails_its_checksum_and_is_malformed()
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, Payload));
        packet[30] ^= 0x01;

        Assert.Equal(IcmpPacketKind.Malformed, IcmpCodec.Parse(packet, ipv6: false, out _));
    }

    [Theory]
    [InlineData(0x44)] // IHL 4: shorter than the 20-byte minimum
    [InlineData(0x4F)] // IHL 15: 60 bytes, longer than the packet
    public void An_impossible_ipv4_header_length_is_malformed(byte versionAndLength)
    {
        byte[] packet = IcmpPackets.WithIPv4Header(IcmpPackets.Echo(IcmpCodec.EchoReplyV4, Id, 7, []));
        packet[0] = versionAndLength;

        Assert.Equal(IcmpPacketKind.Malformed, IcmpCodec.Parse(packet, ipv6: false, out _));
    }
}
