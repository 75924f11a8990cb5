using System.Buffers;
using System.Reactive.Linq;
using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class CustomFramingTests
{
    /// <summary>A one-byte length, then that many bytes of payload; FF is never a length.</summary>
    private static FrameMatch OneByteLength(ReadOnlySequence<byte> buffer)
    {
        byte length = buffer.FirstSpan[0];
        if (length == 0xFF)
            return FrameMatch.Illegal;
        return buffer.Length > length ? FrameMatch.Frame(1 + length, 1, length) : FrameMatch.NeedMore;
    }

    private static WireFrame Frame(byte[] payload) => new([(byte)payload.Length, .. payload], payload);

    private static readonly WireFrame[] SomeFrames = [Frame(Bytes("0102")), Frame([]), Frame(Bytes("03"))];

    [Fact]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteFrames() => AssertEveryPrefix(Framing.Custom(OneByteLength), SomeFrames);

    [Fact]
    public void ByteByByteFeeding_YieldsTheSameFrames() => AssertByteByByte(Framing.Custom(OneByteLength), SomeFrames);

    [Fact]
    public void AnySplitOfAnyFrames_YieldsExactlyThoseFrames() =>
        AssertAnySplitYieldsTheFrames(Framing.Custom(OneByteLength), Gen.Byte.Array[0, 60].Select(Frame));

    [Fact]
    public void AFrameOfOnlyALength_DeliversAllItsBytes()
    {
        static FrameMatch Pairs(ReadOnlySequence<byte> buffer) => buffer.Length >= 2 ? FrameMatch.Frame(2) : FrameMatch.NeedMore;

        AssertFrames(Decode(Framing.Custom(Pairs), Bytes("010203"), Bytes("04")), [Bytes("0102"), Bytes("0304")]);
    }

    [Fact]
    public void AMatcherFactory_GivesEveryConnectionItsOwnStatefulMatcher()
    {
        // A stateful matcher: the n-th frame of a connection is n bytes long.
        var framing = Framing.Custom(() =>
        {
            int next = 1;
            return buffer =>
            {
                if (buffer.Length < next) return FrameMatch.NeedMore;
                return FrameMatch.Frame(next++);
            };
        });

        // Two connections each see frames of 1 then 2 bytes: a matcher shared by both would expect 3, then 4.
        AssertFrames(Decode(framing, Bytes("01"), Bytes("0203")), [Bytes("01"), Bytes("0203")]);
        AssertFrames(Decode(framing, Bytes("01"), Bytes("0203")), [Bytes("01"), Bytes("0203")]);
    }

    [Fact]
    public async Task OverTcp_EveryConnectionHasItsOwnStatefulMatcher()
    {
        // The n-th frame of a connection is n bytes long; the server answers each frame with its length.
        var framing = Framing.Custom(() =>
        {
            int next = 1;
            return buffer => buffer.Length < next ? FrameMatch.NeedMore : FrameMatch.Frame(next++);
        });
        await using var server = new TcpServer(new TcpServerOptions { Framing = framing });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send([(byte)f.Length]));
        var endPoint = server.Start("127.0.0.1", 0);
        using var a = await Wait.ConnectRaw(endPoint);
        using var b = await Wait.ConnectRaw(endPoint);

        // Interleaved: a matcher shared by both connections would wait for 2 bytes from b, then cut 3 from a.
        foreach (var (socket, frame) in new[] { (a, Bytes("01")), (b, Bytes("01")), (a, Bytes("0203")), (b, Bytes("0203")) })
        {
            await socket.SendAsync(frame);
            Assert.Equal([(byte)frame.Length], await Wait.ReadExactly(socket, 1));
        }
    }

    [Fact]
    public void AnIllegalAnswer_IsIllegalDataAfterTheFramesBeforeIt() =>
        AssertFails(Decode(Framing.Custom(OneByteLength), Bytes("0161FF00")), FrameError.IllegalData, Bytes("61"));

    [Fact]
    public void AMatcherStillNeedingMoreAtTheMaximum_IsTooLarge()
    {
        long largestSeen = 0;
        FrameMatch NeverEnough(ReadOnlySequence<byte> buffer)
        {
            largestSeen = Math.Max(largestSeen, buffer.Length);
            return FrameMatch.NeedMore;
        }

        Outcome outcome = Decode(Framing.Custom(NeverEnough, maxFrameSize: 8), new byte[5], new byte[5]);

        AssertFails(outcome, FrameError.TooLarge);
        Assert.Equal(8, largestSeen);
    }

    [Fact]
    public void AFrameOfExactlyTheMaximum_IsAccepted() =>
        AssertFrames(Decode(Framing.Custom(OneByteLength, maxFrameSize: 4), Bytes("03616263")), [Bytes("616263")]);

    [Fact]
    public void AMatcherClaimingMoreBytesThanItWasGiven_IsABug() =>
        Assert.IsType<InvalidOperationException>(Decode(Framing.Custom(_ => FrameMatch.Frame(5)), new byte[3]).Error);

    [Fact]
    public void AnExceptionFromTheMatcher_EndsTheFramesWithIt()
    {
        var thrown = new FormatException("bad");
        Exception? received = null;

        new[] { (ReadOnlyMemory<byte>)new byte[1] }.ToObservable().Frame(Framing.Custom(_ => throw thrown)).Subscribe(_ => { }, e => received = e);

        Assert.Same(thrown, received);
    }

    [Fact]
    public void CompletionMidFrame_IsTruncatedAfterTheCompleteFrames() =>
        AssertFails(Decode(Framing.Custom(OneByteLength), Bytes("0161"), Bytes("0262")), FrameError.Truncated, Bytes("61"));

    [Fact]
    public void FramesThatCouldNotMoveTheInputOn_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>("consumed", () => FrameMatch.Frame(0));
        Assert.Throws<ArgumentOutOfRangeException>("consumed", () => FrameMatch.Frame(0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>("payloadOffset", () => FrameMatch.Frame(5, -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>("payloadLength", () => FrameMatch.Frame(5, 0, -1));
        Assert.Throws<ArgumentOutOfRangeException>("payloadLength", () => FrameMatch.Frame(5, 2, 4));
    }

    [Fact]
    public void Answers_CompareByValue()
    {
        Assert.Equal(FrameMatch.NeedMore, default);
        Assert.Equal(FrameMatch.Frame(3), FrameMatch.Frame(3, 0, 3));
        Assert.NotEqual(FrameMatch.Illegal, FrameMatch.NeedMore);
        Assert.Equal("Frame(consumed 5, payload 2..5)", FrameMatch.Frame(5, 2, 3).ToString());
    }

    [Fact]
    public void InvalidSettings_AreRejected()
    {
        Assert.Throws<ArgumentNullException>("matcher", () => Framing.Custom((FrameMatcher)null!));
        Assert.Throws<ArgumentNullException>("createMatcher", () => Framing.Custom((Func<FrameMatcher>)null!));
        Assert.Throws<ArgumentOutOfRangeException>("maxFrameSize", () => Framing.Custom(OneByteLength, maxFrameSize: 0));
    }
}
