using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class LengthFieldFramingTests
{
    /// <summary>An encoder written independently of the framing: <paramref name="prefix"/>, the field, the body.</summary>
    private static WireFrame Wire(int lengthSize, bool bigEndian, int adjustment, bool includeHeader, byte[] prefix, byte[] body)
    {
        ulong value = (ulong)(body.Length - adjustment);
        var field = new byte[lengthSize];
        for (int i = 0; i < lengthSize; i++)
            field[bigEndian ? lengthSize - 1 - i : i] = (byte)(value >> (8 * i));
        byte[] wire = [.. prefix, .. field, .. body];
        return new WireFrame(wire, includeHeader ? wire : body);
    }

    private static WireFrame Wire(byte[] body) => Wire(2, true, 0, false, [], body);

    private static readonly WireFrame[] SomeFrames = [Wire(Bytes("68656C6C6F")), Wire([]), Wire(Bytes("21"))];

    /// <summary>A message type byte, a 2-byte big-endian length, the body; delivered with the header.</summary>
    private static readonly LengthFieldOptions TypedMessages = new() { Offset = 1, IncludeHeader = true };

    [Theory]
    [InlineData(1, true, "03616263")]
    [InlineData(2, true, "0003616263")]
    [InlineData(2, false, "0300616263")]
    [InlineData(3, true, "000003616263")]
    [InlineData(3, false, "030000616263")]
    [InlineData(4, true, "00000003616263")]
    [InlineData(4, false, "03000000616263")]
    [InlineData(8, true, "0000000000000003616263")]
    [InlineData(8, false, "0300000000000000616263")]
    public void EachFieldWidthAndByteOrder_IsWrittenOnSendAndReadBack(int lengthSize, bool bigEndian, string wire)
    {
        Framing framing = Framing.LengthField(lengthSize, new LengthFieldOptions { BigEndian = bigEndian });

        Assert.Equal(wire, Hex(framing.Encode(Bytes("616263"))));
        AssertFrames(Decode(framing, Bytes(wire)), [Bytes("616263")]);
    }

    [Fact]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteFrames()
    {
        AssertEveryPrefix(Framing.LengthField(2), SomeFrames);
        AssertEveryPrefix(Framing.LengthField(2, TypedMessages), [Wire(2, true, 0, true, Bytes("07"), Bytes("6869")), Wire(2, true, 0, true, Bytes("08"), [])]);
    }

    [Fact]
    public void ByteByByteFeeding_YieldsTheSameFrames() => AssertByteByByte(Framing.LengthField(2), SomeFrames);

    [Fact]
    public void AnySplitOfAnyFramesUnderAnyOptions_YieldsExactlyThoseFrames()
    {
        var options = Gen.Select(Gen.OneOfConst(1, 2, 3, 4, 8), Gen.Bool, Gen.Int[0, 3], Gen.Int[0, 2], Gen.Bool);
        var bodies = Gen.Byte.Array[0, 40].Array[0, 8];
        Gen.Select(options, bodies, Gen.Byte.Array[3], Gen.Int[1, 40].Array[1, 6]).Sample((o, bodyList, prefixBytes, sizes) =>
        {
            var (lengthSize, bigEndian, offset, adjustmentKind, includeHeader) = o;
            // The field counts the body, the whole frame, or leaves out a 2-byte trailer.
            int adjustment = adjustmentKind switch { 0 => 0, 1 => -(offset + lengthSize), _ => 2 };
            Framing framing = Framing.LengthField(lengthSize, new LengthFieldOptions
            {
                BigEndian = bigEndian, Offset = offset, Adjustment = adjustment, IncludeHeader = includeHeader,
            });
            WireFrame[] frames = bodyList.Where(b => b.Length >= adjustment)
                .Select(b => Wire(lengthSize, bigEndian, adjustment, includeHeader, prefixBytes[..offset], b)).ToArray();

            AssertFrames(Decode(framing, Split(Concat(frames.Select(f => f.Wire)), sizes)), frames.Select(f => f.Payload));
        }, iter: 300);
    }

    [Fact]
    public void BytesBeforeTheField_AreSkippedOrDeliveredAsIncludeHeaderSays()
    {
        byte[] wire = Bytes("0700026869");

        AssertFrames(Decode(Framing.LengthField(2, new LengthFieldOptions { Offset = 1 }), wire), [Bytes("6869")]);
        AssertFrames(Decode(Framing.LengthField(2, TypedMessages), wire), [wire]);
    }

    [Fact]
    public void AFieldCountingTheWholeFrame_IsMatchedByANegativeAdjustment()
    {
        Framing framing = Framing.LengthField(4, new LengthFieldOptions { Adjustment = -4 });

        Assert.Equal("000000066869", Hex(framing.Encode(Bytes("6869"))));
        AssertFrames(Decode(framing, Bytes("000000066869")), [Bytes("6869")]);
    }

    [Fact]
    public void AFieldLeavingOutATrailer_IsMatchedByAPositiveAdjustment() =>
        AssertFrames(Decode(Framing.LengthField(1, new LengthFieldOptions { Adjustment = 2 }), Bytes("01AAC0C1")), [Bytes("AAC0C1")]);

    [Fact]
    public void ABodyLengthBelowZero_IsAnIllegalHeader() =>
        AssertFails(Decode(Framing.LengthField(4, new LengthFieldOptions { Adjustment = -4 }), Bytes("00000003")), FrameError.IllegalHeader);

    [Fact]
    public void AnEightByteFieldWithTheTopBitSet_IsAnIllegalHeader() =>
        AssertFails(Decode(Framing.LengthField(8), Bytes("8000000000000000")), FrameError.IllegalHeader);

    [Fact]
    public void AFieldThatOverflowsWithTheAdjustment_IsAnIllegalHeader() =>
        AssertFails(Decode(Framing.LengthField(8, new LengthFieldOptions { Adjustment = 1 }), Bytes("7FFFFFFFFFFFFFFF")), FrameError.IllegalHeader);

    [Fact]
    public void AFrameOfExactlyTheMaximum_IsAccepted() =>
        AssertFrames(Decode(Framing.LengthField(4, new LengthFieldOptions { MaxFrameSize = 3 }), Bytes("00000003616263")), [Bytes("616263")]);

    [Theory]
    [InlineData("00000004")]
    [InlineData("FFFFFFFF")]
    public void AFieldAnnouncingMoreThanTheMaximum_IsTooLargeBeforeTheBodyArrives(string header) =>
        AssertFails(Decode(Framing.LengthField(4, new LengthFieldOptions { MaxFrameSize = 3 }), Bytes(header)), FrameError.TooLarge);

    [Fact]
    public void TheMaximum_IsLoweredToWhatTheFieldCanAnnounce()
    {
        Assert.Equal(255, Framing.LengthField(1).MaxFrameSize);
        Assert.Equal(254, Framing.LengthField(1, new LengthFieldOptions { Adjustment = -1 }).MaxFrameSize);
        Assert.Equal(65535, Framing.LengthField(2).MaxFrameSize);
        Assert.Equal(100, Framing.LengthField(2, new LengthFieldOptions { MaxFrameSize = 100 }).MaxFrameSize);
        Assert.Equal(Framing.DefaultMaxFrameSize, Framing.LengthField(4).MaxFrameSize);
        Assert.Equal(3 + 2 + 100, Framing.LengthField(2, new LengthFieldOptions { Offset = 3, MaxFrameSize = 100 }).MaxEncodedFrameSize);
    }

    [Fact]
    public void WithBytesBeforeTheField_PayloadsAreSentAsTheyAre() =>
        Assert.Equal("6162", Hex(Framing.LengthField(2, new LengthFieldOptions { Offset = 1 }).Encode(Bytes("6162"))));

    [Fact]
    public void APayloadShorterThanAPositiveAdjustment_CannotBeSent() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Framing.LengthField(1, new LengthFieldOptions { Adjustment = 2 }).Encode(Bytes("61")));

    [Fact]
    public void CompletionMidFrame_IsTruncatedAfterTheCompleteFrames() =>
        AssertFails(Decode(Framing.LengthField(2), Bytes("000161"), Bytes("000262")), FrameError.Truncated, Bytes("61"));

    [Fact]
    public void TheDefaults_AreABigEndianFieldCountingTheBodyOnly()
    {
        var options = new LengthFieldOptions();

        Assert.True(options.BigEndian);
        Assert.Equal(0, options.Offset);
        Assert.Equal(0, options.Adjustment);
        Assert.False(options.IncludeHeader);
        Assert.Equal(Framing.DefaultMaxFrameSize, options.MaxFrameSize);
    }

    [Fact]
    public void ChangingTheOptionsAfterwards_DoesNotChangeTheFraming()
    {
        var options = new LengthFieldOptions { MaxFrameSize = 10 };
        Framing framing = Framing.LengthField(2, options);

        options.BigEndian = false;
        options.MaxFrameSize = 20;

        Assert.Equal(10, framing.MaxFrameSize);
        AssertFrames(Decode(framing, Bytes("000161")), [Bytes("61")]);
    }

    [Fact]
    public void InvalidSettings_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>("lengthSize", () => Framing.LengthField(5));
        Assert.Throws<ArgumentOutOfRangeException>("value", () => new LengthFieldOptions { Offset = -1 });
        Assert.Throws<ArgumentOutOfRangeException>("value", () => new LengthFieldOptions { MaxFrameSize = 0 });
        Assert.Throws<ArgumentException>("options", () => Framing.LengthField(1, new LengthFieldOptions { Adjustment = -255 }));
        Assert.Throws<ArgumentOutOfRangeException>("options", () => Framing.LengthField(4, new LengthFieldOptions { Offset = int.MaxValue - 2 }));
    }
}
