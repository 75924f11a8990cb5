using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class RawFramingTests
{
    [Fact]
    public void Raw_IsOneSharedFramingOfAtMost64KiBPerFrame()
    {
        Assert.Same(Framing.Raw, Framing.Raw);
        Assert.Equal(64 * 1024, Framing.Raw.MaxFrameSize);
        Assert.Equal(64 * 1024, Framing.Raw.MaxEncodedFrameSize);
    }

    [Fact]
    public void EachChunk_IsDeliveredAsOneFrame() =>
        AssertFrames(Decode(Framing.Raw, Bytes("0102"), Bytes("03"), Bytes("040506")), [Bytes("0102"), Bytes("03"), Bytes("040506")]);

    [Fact]
    public void AChunkLongerThanTheMaximum_IsCutIntoMaximumSizedFrames() =>
        AssertFrames(Decode(Framing.RawChunks(4), Bytes("00010203040506070809")), [Bytes("00010203"), Bytes("04050607"), Bytes("0809")]);

    [Fact]
    public void ByteByByteFeeding_DeliversEveryByteAsItArrives()
    {
        byte[] stream = Bytes("0A0B0C0D");
        AssertFrames(Decode(Framing.Raw, ByteByByte(stream)), stream.Select(b => new[] { b }));
    }

    [Fact]
    public void EveryPrefix_IsDeliveredWholeAndCompletesWithoutTruncation()
    {
        byte[] stream = Enumerable.Range(0, 11).Select(i => (byte)i).ToArray();
        for (int length = 0; length <= stream.Length; length++)
        {
            Outcome outcome = Decode(Framing.RawChunks(4), stream[..length]);
            Assert.Null(outcome.Error);
            Assert.True(outcome.Completed);
            Assert.Equal(Hex(stream[..length]), string.Concat(outcome.Frames));
        }
    }

    [Fact]
    public void TryDecodeFinal_HandsOutWhatIsLeftInMaximumSizedPieces()
    {
        FrameDecoder decoder = Framing.RawChunks(4).CreateDecoder();

        Assert.True(decoder.TryDecodeFinal(new byte[6], out FrameBounds first));
        Assert.True(decoder.TryDecodeFinal(new byte[2], out FrameBounds second));

        Assert.Equal(new FrameBounds(4, 0, 4), first);
        Assert.Equal(new FrameBounds(2, 0, 2), second);
    }

    [Fact]
    public void AnySplit_DeliversTheSameBytesInOrderInFramesNoLargerThanTheMaximum() =>
        Gen.Select(Gen.Byte.Array[0, 200], Gen.Int[1, 40].Array[1, 8], Gen.Int[1, 16]).Sample((stream, sizes, max) =>
        {
            Outcome outcome = Decode(Framing.RawChunks(max), Split(stream, sizes));
            Assert.True(outcome.Completed);
            Assert.Equal(Hex(stream), string.Concat(outcome.Frames));
            Assert.All(outcome.Frames, f => Assert.InRange(f.Length / 2, 1, max));
        }, iter: 200);

    [Fact]
    public void RawChunksOfLessThanOneByte_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>("maxChunkSize", () => Framing.RawChunks(0));
}
