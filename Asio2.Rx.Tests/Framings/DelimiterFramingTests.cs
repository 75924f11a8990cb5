using System.Text;
using CsCheck;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class DelimiterFramingTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static WireFrame Line(string payload, string delimiter, bool keep) =>
        new(Utf8(payload + delimiter), Utf8(keep ? payload + delimiter : payload));

    /// <summary>Payloads drawn from the delimiter's own bytes and one other, so near-misses abound, that are still cut right
    /// (no delimiter starts inside payload + delimiter before the real one).</summary>
    private static Gen<WireFrame> Frames(byte[] delimiter, bool keep) =>
        Gen.OneOfConst([.. delimiter, (byte)'x']).Array[0, 12]
            .Where(p => p.Concat(delimiter).ToArray().AsSpan().IndexOf(delimiter) == p.Length)
            .Select(p => new WireFrame([.. p, .. delimiter], keep ? [.. p, .. delimiter] : p));

    private static readonly string[] Payloads = ["hello", "", "a\rb", "x", ""];

    [Theory]
    [InlineData("\n", false)]
    [InlineData("\r\n", false)]
    [InlineData("\r\n", true)]
    [InlineData("€", true)]
    [InlineData("aa", false)]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteFrames(string delimiter, bool keep) =>
        AssertEveryPrefix(Framing.Delimiter(delimiter, keep), Payloads.Select(p => Line(p, delimiter, keep)).ToList());

    [Theory]
    [InlineData("\n", false)]
    [InlineData("\r\n", true)]
    [InlineData("aa", false)]
    public void ByteByByteFeeding_YieldsTheSameFrames(string delimiter, bool keep) =>
        AssertByteByByte(Framing.Delimiter(delimiter, keep), Payloads.Select(p => Line(p, delimiter, keep)).ToList());

    [Theory]
    [InlineData("\n", false)]
    [InlineData("\r\n", false)]
    [InlineData("\r\n", true)]
    [InlineData("aaa", true)]
    public void AnySplitOfAnyFrames_YieldsExactlyThoseFrames(string delimiter, bool keep) =>
        AssertAnySplitYieldsTheFrames(Framing.Delimiter(delimiter, keep), Frames(Utf8(delimiter), keep));

    [Fact]
    public void ADelimiterSplitAcrossReads_IsFound() =>
        AssertFrames(Decode(Framing.Delimiter("\r\n"), Utf8("abc\r"), Utf8("\nxyz\r"), Utf8("\n")), [Utf8("abc"), Utf8("xyz")]);

    [Fact]
    public void ByteByByteFeeding_DoesNotRescanBytesAlreadySearched()
    {
        FrameDecoder decoder = Framing.Delimiter((byte)'\n').CreateDecoder();
        Assert.False(decoder.TryDecode(Utf8("aaaa"), out _));

        // Against the contract the searched bytes now hold a delimiter: a decoder that resumes does not see it.
        Assert.False(decoder.TryDecode(Utf8("a\naaab"), out _));
        Assert.True(decoder.TryDecode(Utf8("a\naaab\n"), out FrameBounds frame));

        Assert.Equal(new FrameBounds(7, 0, 6), frame);
    }

    [Fact]
    public void KeepDelimiter_EndsEachPayloadWithTheDelimiter() =>
        AssertFrames(Decode(Framing.Delimiter("\r\n", keepDelimiter: true), Utf8("a\r\n\r\nb\r\n")), [Utf8("a\r\n"), Utf8("\r\n"), Utf8("b\r\n")]);

    [Fact]
    public void TheByteCharAndStringForms_CutAlike()
    {
        byte[] input = Utf8("one\ntwo\n");
        byte[][] expected = [Utf8("one"), Utf8("two")];

        AssertFrames(Decode(Framing.Delimiter((byte)'\n'), input), expected);
        AssertFrames(Decode(Framing.Delimiter('\n'), input), expected);
        AssertFrames(Decode(Framing.Delimiter("\n"), input), expected);
    }

    [Fact]
    public void ACharDelimiter_IsMatchedByItsUtf8Bytes() =>
        AssertFrames(Decode(Framing.Delimiter('€'), Bytes("41E282AC42E282E282AC")), [Bytes("41"), Bytes("42E282")]);

    [Fact]
    public void AFrameOfExactlyTheMaximum_IsAccepted() =>
        AssertFrames(Decode(Framing.Delimiter("\r\n", maxFrameSize: 4), Utf8("abcd\r\n")), [Utf8("abcd")]);

    [Fact]
    public void OneByteOverTheMaximum_IsTooLargeWithoutWaitingForTheDelimiter()
    {
        Framing framing = Framing.Delimiter("\r\n", maxFrameSize: 4);
        Assert.Equal(6, framing.MaxEncodedFrameSize);

        // "abcd\r" may still become "abcd\r\n"; "abcde\r" can only become a frame of five bytes or more.
        Assert.Null(Decode(framing, [Utf8("abcd\r")], complete: false).Error);
        AssertFails(Decode(framing, Utf8("abcde\r")), FrameError.TooLarge);
        AssertFails(Decode(framing, Utf8("ok\r\nabcde\r\n")), FrameError.TooLarge, Utf8("ok"));
    }

    [Fact]
    public void CompletionMidFrame_IsTruncatedAfterTheCompleteFrames() =>
        AssertFails(Decode(Framing.Delimiter('\n'), Utf8("ab\nc")), FrameError.Truncated, Utf8("ab"));

    [Fact]
    public void InvalidDelimiters_AreRejectedAtTheFactory()
    {
        Assert.Throws<ArgumentNullException>("delimiter", () => Framing.Delimiter(null!));
        Assert.Throws<ArgumentException>("delimiter", () => Framing.Delimiter(""));
        Assert.Throws<ArgumentException>("delimiter", () => Framing.Delimiter("\uD800"));
        Assert.Throws<ArgumentException>("delimiter", () => Framing.Delimiter('\uDC00'));
        Assert.Throws<ArgumentOutOfRangeException>("maxFrameSize", () => Framing.Delimiter('\n', maxFrameSize: 0));
    }
}
