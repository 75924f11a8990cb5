using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class FixedSizeFramingTests
{
    private static readonly WireFrame[] ThreeFrames =
        [new(Bytes("010203"), Bytes("010203")), new(Bytes("000000"), Bytes("000000")), new(Bytes("FFFEFD"), Bytes("FFFEFD"))];

    [Fact]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteFrames() => AssertEveryPrefix(Framing.FixedSize(3), ThreeFrames);

    [Fact]
    public void ByteByByteFeeding_YieldsTheSameFrames() => AssertByteByByte(Framing.FixedSize(3), ThreeFrames);

    [Fact]
    public void AnySplitOfAnyFrames_YieldsExactlyThoseFrames() =>
        AssertAnySplitYieldsTheFrames(Framing.FixedSize(5), Gen.Byte.Array[5].Select(p => new WireFrame(p, p)));

    [Fact]
    public void OneReadOfSeveralFrames_IsCutIntoFramesOfTheSize() =>
        AssertFrames(Decode(Framing.FixedSize(2), Bytes("0102030405060708")), [Bytes("0102"), Bytes("0304"), Bytes("0506"), Bytes("0708")]);

    [Fact]
    public void NoFrameCanExceedTheSize_SoTheBufferNeverHoldsMoreThanOneFrame()
    {
        Framing framing = Framing.FixedSize(7);
        Assert.Equal(7, framing.MaxFrameSize);
        Assert.Equal(7, framing.MaxEncodedFrameSize);
    }

    [Fact]
    public void CompletionMidFrame_IsTruncatedAfterTheCompleteFrames() =>
        AssertFails(Decode(Framing.FixedSize(2), Bytes("01020304"), Bytes("05")), FrameError.Truncated, Bytes("0102"), Bytes("0304"));

    [Fact]
    public void ASizeOfLessThanOneByte_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>("size", () => Framing.FixedSize(0));
}
