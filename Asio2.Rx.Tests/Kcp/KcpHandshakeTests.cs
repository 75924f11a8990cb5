using System.Buffers.Binary;
using System.Text.Json;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// <see cref="KcpHandshake"/> against the wire captures of real asio2 peers
/// (<c>shared/asio2/vectors/kcp_handshake.json</c>): every captured header, the server's and the
/// client's accept/reject decisions, and the checksum quirk.
/// </summary>
public sealed class KcpHandshakeTests
{
    private static JsonElement Capture => SharedFolder.Asio2KcpCapture;

    /// <summary>Every 12-byte datagram of the capture that comes with its decoding: (JSON path, hex, decoded).</summary>
    public static TheoryData<string, string, string> CapturedHeaders()
    {
        var data = new TheoryData<string, string, string>();
        foreach ((string path, string hex, JsonElement decoded) in DecodedDatagrams())
        {
            if (decoded.GetProperty("kind").GetString() == "asio2_handshake_header")
            {
                data.Add(path, hex, decoded.GetRawText());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CapturedHeaders))]
    public void CapturedHeader_VerifiesAsCapturedAndDecodesToTheCapturedFields(string path, string hex, string decodedJson)
    {
        byte[] datagram = Convert.FromHexString(hex);
        JsonElement decoded = JsonDocument.Parse(decodedJson).RootElement;

        bool valid = KcpHandshake.TryParse(datagram, out KcpHandshakeHeader header);

        Assert.True(decoded.GetProperty("checksum_ok").GetBoolean() == valid, $"{path}: checksum verdict differs from asio2's");
        Assert.Equal(decoded.GetProperty("recomputed_asio2_value").GetUInt16(), KcpHandshake.ComputeChecksum(datagram));
        if (valid)
        {
            Assert.Equal(decoded.GetProperty("seq").GetUInt32(), header.Seq);
            Assert.Equal(decoded.GetProperty("ack").GetUInt32(), header.Ack);
            Assert.Equal(Convert.ToByte(decoded.GetProperty("flags_byte").GetString(), 16), header.Flags);
            Assert.Equal(decoded.GetProperty("padding").GetByte(), header.Padding);
            Assert.Equal(hex, Encode(header));
        }
    }

    [Fact]
    public void EveryHeaderAsio2Emitted_VerifiesAndReencodesIdentically()
    {
        JsonElement emitted = Capture.GetProperty("checksum").GetProperty("all_asio2_emitted_headers_verified");
        JsonElement packets = emitted.GetProperty("packets");
        Assert.Equal(emitted.GetProperty("distinct").GetInt32(), packets.GetArrayLength());

        foreach (JsonElement packet in packets.EnumerateArray())
        {
            string hex = packet.GetString()!;
            Assert.True(KcpHandshake.TryParse(Convert.FromHexString(hex), out KcpHandshakeHeader header), hex);
            Assert.Equal(hex, Encode(header));
        }
    }

    [Fact]
    public void ChecksumWorkedExamples_GiveTheInvertedFoldedSum()
    {
        foreach (JsonElement example in Capture.GetProperty("checksum").GetProperty("worked_examples").EnumerateArray())
        {
            byte[] datagram = Convert.FromHexString(example.GetProperty("hex").GetString()!);
            ushort inverted = Convert.ToUInt16(example.GetProperty("inverted").GetString(), 16);
            Assert.Equal(inverted, KcpHandshake.ComputeChecksum(datagram));
            Assert.True(KcpHandshake.IsChecksumValid(datagram));
        }
    }

    [Fact]
    public void WriteSynSynAckAndFin_ReproduceTheCapturedHandshakes()
    {
        int runs = 0;
        foreach (JsonProperty run in Capture.GetProperty("handshake_vectors").EnumerateObject())
        {
            if (run.Value.ValueKind != JsonValueKind.Object || !run.Value.TryGetProperty("syn", out JsonElement synCapture))
            {
                continue;
            }

            JsonElement syn = synCapture.GetProperty("decoded");
            JsonElement synAck = run.Value.GetProperty("synack").GetProperty("decoded");
            var buffer = new byte[KcpHandshake.Size];

            KcpHandshake.WriteSyn(buffer, syn.GetProperty("seq").GetUInt32(), syn.GetProperty("ack").GetUInt32());
            Assert.Equal(synCapture.GetProperty("hex").GetString(), Convert.ToHexStringLower(buffer));

            KcpHandshake.WriteSynAck(buffer, synAck.GetProperty("seq").GetUInt32(), syn.GetProperty("seq").GetUInt32());
            Assert.Equal(run.Value.GetProperty("synack").GetProperty("hex").GetString(), Convert.ToHexStringLower(buffer));
            runs++;
        }

        Assert.True(runs >= 3, $"only {runs} captured handshakes");

        var fin = new byte[KcpHandshake.Size];
        KcpHandshake.WriteFin(fin);
        Assert.Equal("00000000000000000400fffb", Convert.ToHexStringLower(fin));
        Assert.True(KcpHandshake.IsFin(fin));
    }

    /// <summary>
    /// The server answered a 12-byte datagram with a SYN-ACK exactly when it was a valid SYN (first
    /// datagram or repeated on a live session), and every SYN-ACK it sent validates for that SYN.
    /// </summary>
    [Fact]
    public void ServerReactions_SynAckedExactlyTheValidSyns()
    {
        int synAcked = 0;
        int ignored = 0;
        foreach ((_, JsonElement step) in Objects(Capture, "$"))
        {
            if (!step.TryGetProperty("sent", out JsonElement sentHex) || !step.TryGetProperty("replies", out JsonElement replies))
            {
                continue;
            }

            byte[] sent = Convert.FromHexString(sentHex.GetString()!);
            if (KcpHandshake.Classify(sent.Length) != KcpDatagramKind.Handshake)
            {
                continue;
            }

            string? desc = step.TryGetProperty("desc", out JsonElement d) ? d.GetString() : sentHex.GetString();
            bool answered = replies.GetArrayLength() > 0;
            Assert.True(KcpHandshake.IsSyn(sent) == answered, $"{desc}: IsSyn disagrees with the server");
            if (answered)
            {
                uint synSeq = BinaryPrimitives.ReadUInt32BigEndian(sent);
                Assert.True(KcpHandshake.IsSynAckFor(Convert.FromHexString(replies[0].GetString()!), synSeq), $"{desc}: reply is not its SYN-ACK");
                synAcked++;
            }
            else
            {
                ignored++;
            }
        }

        Assert.True(synAcked >= 4 && ignored >= 8, $"too few captured reactions ({synAcked} SYN-ACKed, {ignored} ignored)");
    }

    /// <summary>The asio2 client accepted only C3; C1 carries the RFC-style checksum, C2 a wrong ack.</summary>
    [Theory]
    [InlineData("C1_synack_rfc1071_be_checksum", false)]
    [InlineData("C2_synack_ack_not_seq_plus_1", false)]
    [InlineData("C3_synack_valid_conv_4242", true)]
    public void ClientCases_SynAckValidatesExactlyWhenTheAsio2ClientAccepted(string name, bool accepted)
    {
        JsonElement testCase = Capture.GetProperty("client_behaviour").GetProperty("cases").GetProperty(name);
        byte[] syn = Convert.FromHexString(testCase.GetProperty("syn").GetString()!);
        byte[] reply = Convert.FromHexString(testCase.GetProperty("reply").GetString()!);

        Assert.True(KcpHandshake.IsSyn(syn));
        Assert.Equal(accepted, KcpHandshake.IsSynAckFor(reply, BinaryPrimitives.ReadUInt32BigEndian(syn)));
        if (accepted)
        {
            Assert.True(KcpHandshake.TryParse(reply, out KcpHandshakeHeader header));
            Assert.Equal(4242u, header.Seq); // the conv
        }
    }

    [Fact]
    public void RfcStyleBigEndianChecksum_IsRejected()
    {
        int swapped = 0;
        foreach ((string path, string hex, _) in DecodedDatagrams().Where(d => d.Hex.Length == 2 * KcpHandshake.Size))
        {
            byte[] datagram = Convert.FromHexString(hex);
            if (!KcpHandshake.IsChecksumValid(datagram) || datagram[10] == datagram[11])
            {
                continue; // not a valid header, or nothing to swap
            }

            // The RFC 1071 value stored the usual (big-endian) way is asio2's value byte-swapped.
            (datagram[10], datagram[11]) = (datagram[11], datagram[10]);
            Assert.False(KcpHandshake.IsChecksumValid(datagram), path);
            Assert.False(KcpHandshake.IsSyn(datagram) || KcpHandshake.IsFin(datagram), path);
            swapped++;
        }

        Assert.True(swapped >= 20, $"only {swapped} captured headers");

        // The probe asio2's server ignored: "SYN with RFC1071 checksum stored big-endian".
        Assert.False(KcpHandshake.IsSyn(Convert.FromHexString("01020304000000000800f3f9")));
    }

    [Fact]
    public void FlagTests_IgnoreOnlyThePaddingBits()
    {
        var buffer = new byte[KcpHandshake.Size];
        foreach (byte padding in new byte[] { 0, 1, 2, 3 })
        {
            KcpHandshake.Write(buffer, 7, 0, (byte)(KcpHandshake.Syn | padding), padding: 0x5a);
            Assert.True(KcpHandshake.IsSyn(buffer));
            KcpHandshake.Write(buffer, 1, 8, (byte)(KcpHandshake.Syn | KcpHandshake.Ack | padding));
            Assert.True(KcpHandshake.IsSynAckFor(buffer, 7));
            KcpHandshake.Write(buffer, 0, 0, (byte)(KcpHandshake.Fin | padding));
            Assert.True(KcpHandshake.IsFin(buffer));
        }

        foreach (byte extra in new byte[] { KcpHandshake.Fin, KcpHandshake.Rst, KcpHandshake.Psh, KcpHandshake.Ack, KcpHandshake.Urg })
        {
            KcpHandshake.Write(buffer, 7, 0, (byte)(KcpHandshake.Syn | extra));
            Assert.False(KcpHandshake.IsSyn(buffer));
        }

        KcpHandshake.Write(buffer, 1, 8, KcpHandshake.Ack);
        Assert.False(KcpHandshake.IsSynAckFor(buffer, 7));
        KcpHandshake.Write(buffer, 0, 0, KcpHandshake.Fin | KcpHandshake.Ack);
        Assert.False(KcpHandshake.IsFin(buffer));
    }

    [Fact]
    public void Validators_RejectEveryLengthButTwelve()
    {
        var syn = new byte[13];
        KcpHandshake.WriteSyn(syn, 0x01020309);
        Assert.True(KcpHandshake.IsSyn(syn.AsSpan(0, 12)));
        Assert.False(KcpHandshake.IsSyn(syn));
        Assert.False(KcpHandshake.IsSyn(syn.AsSpan(0, 11)));
        Assert.False(KcpHandshake.TryParse(syn.AsSpan(0, 11), out _));
        Assert.Throws<ArgumentException>(() => KcpHandshake.WriteFin(new byte[11]));
    }

    /// <summary>Every captured datagram, handshake or KCP or neither, classifies by length as asio2 treated it.</summary>
    [Fact]
    public void Classify_SortsEveryCapturedDatagramAsAsio2Did()
    {
        int count = 0;
        foreach ((string path, string hex, JsonElement decoded) in DecodedDatagrams())
        {
            int length = decoded.TryGetProperty("len", out JsonElement len) ? len.GetInt32() : hex.Length / 2;
            KcpDatagramKind expected = decoded.GetProperty("kind").GetString() switch
            {
                "asio2_handshake_header" => KcpDatagramKind.Handshake,
                "kcp_segments" => KcpDatagramKind.Kcp,
                _ => KcpDatagramKind.Illegal,
            };
            Assert.True(expected == KcpHandshake.Classify(length), $"{path}: {length} bytes");
            count++;
        }

        Assert.True(count > 50, $"only {count} captured datagrams");
    }

    [Theory]
    [InlineData(0, "Illegal")]
    [InlineData(11, "Illegal")]
    [InlineData(12, "Handshake")]
    [InlineData(13, "Illegal")]
    [InlineData(23, "Illegal")]
    [InlineData(24, "Kcp")]
    [InlineData(1400, "Kcp")]
    public void Classify_TwelveIsHandshakeTwentyFourAndMoreIsKcp(int length, string kind) =>
        Assert.Equal(Enum.Parse<KcpDatagramKind>(kind), KcpHandshake.Classify(length));

    private static string Encode(KcpHandshakeHeader header)
    {
        var buffer = new byte[KcpHandshake.Size];
        KcpHandshake.Write(buffer, header.Seq, header.Ack, header.Flags, header.Padding);
        return Convert.ToHexStringLower(buffer);
    }

    // Datagrams that the capture decodes: {hex, decoded}, {sent, sent_decoded} and replies[i] with replies_decoded[i].
    private static IEnumerable<(string Path, string Hex, JsonElement Decoded)> DecodedDatagrams()
    {
        foreach ((string path, JsonElement element) in Objects(Capture, "$"))
        {
            if (element.TryGetProperty("hex", out JsonElement hex) && element.TryGetProperty("decoded", out JsonElement decoded))
            {
                yield return (path, hex.GetString()!, decoded);
            }

            if (element.TryGetProperty("sent", out JsonElement sent) && element.TryGetProperty("sent_decoded", out JsonElement sentDecoded))
            {
                yield return (path + ".sent", sent.GetString()!, sentDecoded);
            }

            if (element.TryGetProperty("replies", out JsonElement replies) && element.TryGetProperty("replies_decoded", out JsonElement repliesDecoded))
            {
                for (int i = 0; i < replies.GetArrayLength(); i++)
                {
                    yield return ($"{path}.replies[{i}]", replies[i].GetString()!, repliesDecoded[i]);
                }
            }
        }
    }

    // Every JSON object under `element`, with its path, depth first.
    private static IEnumerable<(string Path, JsonElement Object)> Objects(JsonElement element, string path)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            yield return (path, element);
            foreach (JsonProperty property in element.EnumerateObject())
            {
                foreach (var inner in Objects(property.Value, $"{path}.{property.Name}"))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            int index = 0;
            foreach (JsonElement item in element.EnumerateArray())
            {
                foreach (var inner in Objects(item, $"{path}[{index++}]"))
                {
                    yield return inner;
                }
            }
        }
    }
}
