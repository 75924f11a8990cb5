using System.Text.Json;
using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


/// <summary>asio2's use_dgram framing, checked both ways against the capture in shared/asio2/vectors/dgram_framing.json.</summary>
public class DatagramFramingTests
{
    private static readonly Lazy<JsonElement> Vectors = new(LoadVectors);

    private static JsonElement LoadVectors() =>
        JsonDocument.Parse(File.ReadAllText(SharedFolder.Locate(Path.Combine("asio2", "vectors", "dgram_framing.json")))).RootElement.Clone();

    private static JsonElement Valid(int length) =>
        Vectors.Value.GetProperty("valid").EnumerateArray().Single(v => v.GetProperty("payload_len").GetInt32() == length);

    private static JsonElement Observation(string name) =>
        Vectors.Value.GetProperty("other_observations").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name);

    private static string Text(JsonElement e, string property) => e.GetProperty(property).GetString()!;

    /// <summary>The capture's payload pattern: byte i is (7i + 3) &amp; 0xFF.</summary>
    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)((7 * i + 3) & 0xFF)).ToArray();

    private static WireFrame Frame(byte[] payload) => new(Framing.Datagram().Encode(payload), payload);

    private static readonly int[] Lengths = [0, 1, 253, 254, 255, 65535, 65536, 70000];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(253)]
    [InlineData(254)]
    [InlineData(255)]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(70000)]
    public void TheHeaderSentForEachCapturedLength_MatchesAsio2ByteForByte(int length)
    {
        JsonElement vector = Valid(length);
        Framing framing = Framing.Datagram();
        int headerLength = framing.GetHeaderLength(length);
        var header = new byte[headerLength];

        framing.WriteHeader(header, length);

        Assert.Equal(vector.GetProperty("header_len").GetInt32(), headerLength);
        Assert.Equal(Text(vector, "header_hex"), Hex(header), ignoreCase: true);
        Assert.Equal(vector.GetProperty("frame_total_bytes").GetInt32(), framing.Encode(Pattern(length)).Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void TheWholeFrameSentForLengthsZeroAndOne_MatchesAsio2ByteForByte(int length) =>
        Assert.Equal(Text(Valid(length), "frame_full_hex"), Hex(Framing.Datagram().Encode(Pattern(length))), ignoreCase: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(253)]
    [InlineData(254)]
    [InlineData(255)]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(70000)]
    public void EachCapturedFrame_CutAsAsio2SentIt_DecodesToItsPayload(int length)
    {
        JsonElement vector = Valid(length);
        byte[] wire = [.. Bytes(Text(vector, "header_hex")), .. Pattern(length)];
        int[] segments = vector.GetProperty("server_tcp_data_segment_sizes").EnumerateArray().Select(s => s.GetInt32()).ToArray();

        AssertFrames(Decode(Framing.Datagram(), Split(wire, segments)), [Pattern(length)]);
    }

    [Fact]
    public void EveryHeaderAsio2Rejects_IsAnIllegalHeader_WholeOrByteByByte()
    {
        JsonElement[] rejected = [.. Vectors.Value.GetProperty("rejected").EnumerateArray()];
        Assert.Equal(9, rejected.Length);
        foreach (JsonElement vector in rejected)
        {
            byte[] request = Bytes(Text(vector, "request_prefix_hex"));
            Assert.True(Decode(Framing.Datagram(), request).FrameError == FrameError.IllegalHeader, Text(vector, "name"));
            Assert.True(Decode(Framing.Datagram(), ByteByByte(request)).FrameError == FrameError.IllegalHeader, Text(vector, "name"));
        }
    }

    [Fact]
    public void AValidFrameThenAnIllegalHeaderInOneWrite_DeliversTheFrameThenFails()
    {
        JsonElement observation = Observation("valid_then_illegal_same_write");
        byte[] echoed = Bytes(Text(observation, "bytes_received_hex"));

        Outcome outcome = Decode(Framing.Datagram(), Bytes(Text(observation, "sent_hex")));

        AssertFails(outcome, FrameError.IllegalHeader, echoed[1..]);
        Assert.Equal(echoed, Framing.Datagram().Encode(echoed[1..]));
    }

    [Fact]
    public void ALengthWrittenBigEndian_IsReadLittleEndianAsAsio2ReadsIt()
    {
        JsonElement observation = Observation("fe_len300_big_endian_bytes");
        byte[] header = Bytes(Text(observation, "sent_prefix_hex"));
        int length = observation.GetProperty("after_completing_to_11265_bytes").GetProperty("echo_payload_len").GetInt32();

        Outcome waiting = Decode(Framing.Datagram(), [header, new byte[300]], complete: false);
        Outcome whole = Decode(Framing.Datagram(), header, Pattern(length));

        Assert.Empty(waiting.Frames);
        Assert.Null(waiting.Error);
        AssertFrames(whole, [Pattern(length)]);
        Assert.Equal(Text(observation.GetProperty("after_completing_to_11265_bytes"), "echo_header_hex"), Hex(Framing.Datagram().Encode(Pattern(length))[..3]), ignoreCase: true);
    }

    /// <summary>asio2 has no limit by default and waits for the 2^40 bytes; here every framing has one.</summary>
    [Fact]
    public void AHeaderAnnouncingTwoToTheFortyBytes_IsTooLargeBeforeItsPayloadArrives() =>
        AssertFails(Decode(Framing.Datagram(), Bytes(Text(Observation("ff_len_2^40_partial"), "sent_prefix_hex"))), FrameError.TooLarge);

    [Fact]
    public void A300ByteFrameSplitAtAnyByte_IsDeliveredWhole()
    {
        JsonElement observation = Observation("split_delivery_len300");
        byte[] wire = Framing.Datagram().Encode(Pattern(300));
        Assert.Equal(Text(observation, "echo_header_hex"), Hex(wire[..3]), ignoreCase: true);

        for (int split = 0; split <= wire.Length; split++)
            AssertFrames(Decode(Framing.Datagram(), wire[..split], wire[split..]), [Pattern(300)]);
    }

    [Fact]
    public void TwoFramesInOneWrite_AreDeliveredSeparately()
    {
        byte[][] echoes = [.. Observation("two_frames_one_write").GetProperty("echo").EnumerateArray().Select(e => Bytes(e.GetString()!))];

        AssertFrames(Decode(Framing.Datagram(), Concat(echoes)), echoes.Select(e => e[1..]));
        Assert.All(echoes, e => Assert.Equal(e, Framing.Datagram().Encode(e[1..])));
    }

    [Fact]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteFrames() =>
        AssertEveryPrefix(Framing.Datagram(), [Frame(Pattern(2)), Frame([]), Frame(Pattern(254)), Frame(Pattern(1))]);

    [Fact]
    public void ByteByByteFeeding_YieldsTheSameFrames() =>
        AssertByteByByte(Framing.Datagram(), Lengths.Select(n => Frame(Pattern(n))).ToList());

    [Fact]
    public void AnySplitOfAnyFrames_YieldsExactlyThoseFrames() =>
        AssertAnySplitYieldsTheFrames(Framing.Datagram(),
            Gen.Frequency((40, Gen.Int[0, 300]), (1, Gen.Int[65530, 65540])).SelectMany(n => Gen.Byte.Array[n]).Select(Frame));

    [Fact]
    public void AFrameOfExactlyTheMaximum_IsAccepted() =>
        AssertFrames(Decode(Framing.Datagram(maxFrameSize: 300), Framing.Datagram().Encode(Pattern(300))), [Pattern(300)]);

    [Fact]
    public void AHeaderAnnouncingOneByteOverTheMaximum_IsTooLargeBeforeItsPayloadArrives() =>
        AssertFails(Decode(Framing.Datagram(maxFrameSize: 300), Bytes("FE2D01")), FrameError.TooLarge);

    [Fact]
    public void MaxEncodedFrameSize_AddsTheHeaderOfTheLargestFrame()
    {
        Assert.Equal(254, Framing.Datagram(253).MaxEncodedFrameSize);
        Assert.Equal(257, Framing.Datagram(254).MaxEncodedFrameSize);
        Assert.Equal(Framing.DefaultMaxFrameSize + 9, Framing.Datagram().MaxEncodedFrameSize);
    }

    [Fact]
    public void CompletionMidFrame_IsTruncatedAfterTheCompleteFrames() =>
        AssertFails(Decode(Framing.Datagram(), Bytes("0178"), Bytes("0279")), FrameError.Truncated, Bytes("78"));

    [Fact]
    public void AMaximumOfLessThanOneByte_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>("maxFrameSize", () => Framing.Datagram(0));
}
