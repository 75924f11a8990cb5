using System.Buffers;
using CsCheck;
using MessagePack;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class MessagePackFramingTests
{
    /// <summary>
    /// A random MessagePack value of every format family, built byte by byte from the spec, including the long forms
    /// (str 32, array 32, ...) with small contents that MessagePackWriter would never choose.
    /// </summary>
    private static byte[] RandomValue(int seed)
    {
        var random = new Random(seed);
        var bytes = new List<byte>();
        Write(random, bytes, depth: 0);
        return [.. bytes];
    }

    private static void Write(Random r, List<byte> to, int depth)
    {
        void Sized(byte code, int sizeField, int size)
        {
            to.Add(code);
            for (int i = sizeField - 1; i >= 0; i--)
                to.Add((byte)(size >> (8 * i)));
        }
        void Body(int length) => to.AddRange(Enumerable.Range(0, length).Select(_ => (byte)r.Next(256)));

        int kind = r.Next(depth < 4 ? 13 : 9);
        int small = r.Next(r.Next(10) == 0 ? 300 : 20);
        int width = 1 << r.Next(3); // 1, 2 or 4 bytes of size or count
        switch (kind)
        {
            case 0: to.Add((byte)r.Next(0x00, 0x80)); break;                                   // positive fixint
            case 1: to.Add((byte)r.Next(0xE0, 0x100)); break;                                  // negative fixint
            case 2: to.Add(r.Next(3) switch { 0 => 0xC0, 1 => 0xC2, _ => 0xC3 }); break;         // nil, false, true
            case 3: int n = r.Next(32); to.Add((byte)(0xA0 + n)); Body(n); break;              // fixstr
            case 4: Sized(width switch { 1 => 0xD9, 2 => 0xDA, _ => 0xDB }, width, Math.Min(small, 255)); Body(Math.Min(small, 255)); break; // str 8/16/32
            case 5: Sized(width switch { 1 => 0xC4, 2 => 0xC5, _ => 0xC6 }, width, Math.Min(small, 255)); Body(Math.Min(small, 255)); break; // bin 8/16/32
            case 6: Sized(width switch { 1 => 0xC7, 2 => 0xC8, _ => 0xC9 }, width, Math.Min(small, 255)); Body(1 + Math.Min(small, 255)); break; // ext 8/16/32 + type
            case 7: int e = r.Next(5); to.Add((byte)(0xD4 + e)); Body(1 + (1 << e)); break;    // fixext 1..16 + type
            case 8:                                                                             // numbers
                (byte code, int size)[] numbers = [(0xCA, 4), (0xCB, 8), (0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8), (0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)];
                var (c, s) = numbers[r.Next(numbers.Length)];
                to.Add(c);
                Body(s);
                break;
            case 9: case 10:                                                                    // fixarray, array 16/32
                int count = r.Next(5);
                if (kind == 9) to.Add((byte)(0x90 + count)); else Sized(width == 4 ? (byte)0xDD : (byte)0xDC, width == 4 ? 4 : 2, count);
                for (int i = 0; i < count; i++) Write(r, to, depth + 1);
                break;
            default:                                                                            // fixmap, map 16/32
                int pairs = r.Next(4);
                if (kind == 11) to.Add((byte)(0x80 + pairs)); else Sized(width == 4 ? (byte)0xDF : (byte)0xDE, width == 4 ? 4 : 2, pairs);
                for (int i = 0; i < 2 * pairs; i++) Write(r, to, depth + 1);
                break;
        }
    }

    private static WireFrame Value(byte[] value) => new(value, value);

    private static readonly WireFrame[] SomeValues =
    [
        Value(MessagePackSerializer.Serialize<object>(new object[] { 1, "two", new Dictionary<string, object> { ["k"] = 3.5 }, new byte[20] })),
        Value(Bytes("C0")),
        Value(Bytes("92D90361626300")),
    ];

    [Fact]
    public void TheRandomValues_AreWhatMessagePackReaderSkipsOverExactly() =>
        Gen.Int.Sample(seed =>
        {
            byte[] value = RandomValue(seed);
            var reader = new MessagePackReader(new ReadOnlySequence<byte>(value));
            reader.Skip();
            Assert.Equal(value.Length, reader.Consumed);
        }, iter: 500);

    [Fact]
    public void AnySplitOfAnyValues_YieldsExactlyThoseValues() =>
        AssertAnySplitYieldsTheFrames(Framing.MessagePackObject(), Gen.Int.Select(RandomValue).Select(Value), iterations: 300);

    [Fact]
    public void EveryPrefixOfValidInput_YieldsOnlyTheCompleteValues() => AssertEveryPrefix(Framing.MessagePackObject(), SomeValues);

    [Fact]
    public void ByteByByteFeeding_YieldsTheSameValues() => AssertByteByByte(Framing.MessagePackObject(), SomeValues);

    [Theory]
    [InlineData("C1")]
    [InlineData("9201C1")]
    [InlineData("81A16BC1")]
    public void TheNeverUsedTypeByteC1_IsIllegalData(string input) =>
        AssertFails(Decode(Framing.MessagePackObject(), Bytes(input)), FrameError.IllegalData);

    [Fact]
    public void AValueOfExactlyTheMaximum_IsAccepted()
    {
        byte[] value = [0xC4, 98, .. new byte[98]];
        AssertFrames(Decode(Framing.MessagePackObject(maxFrameSize: 100), value), [value]);
    }

    [Theory]
    [InlineData("C463")]           // bin 8 of 99 bytes: 101 in all
    [InlineData("C6000003E8")]     // bin 32 of 1000 bytes
    [InlineData("DDFFFFFFFF")]     // array 32 of 2^32-1 elements, each at least one byte
    [InlineData("DFFFFFFFFF")]     // map 32, twice that
    public void AValueAnnouncingMoreThanTheMaximum_IsTooLargeBeforeItsBytesArrive(string header) =>
        AssertFails(Decode(Framing.MessagePackObject(maxFrameSize: 100), Bytes(header)), FrameError.TooLarge);

    [Fact]
    public void DeepNesting_IsWalkedWithoutRecursion()
    {
        byte[] value = [.. Enumerable.Repeat((byte)0x91, 500_000), 0xC0];
        Outcome outcome = Decode(Framing.MessagePackObject(), value);
        Assert.Null(outcome.Error);
        Assert.Equal([Hex(value)], outcome.Frames);
    }

    [Fact]
    public void AStringBodyStillArriving_IsSkippedOverWithoutRescanning()
    {
        FrameDecoder decoder = Framing.MessagePackObject().CreateDecoder();
        byte[] value = [0x92, 0xDA, 0x01, 0x00, .. new byte[256], 0x07];

        Assert.False(decoder.TryDecode(value.AsMemory(0, 10), out _));
        // Against the contract the bytes already walked now hold garbage: a decoder that resumes does not look at them.
        value[0] = 0xC1;
        Assert.True(decoder.TryDecode(value, out FrameBounds frame));

        Assert.Equal(new FrameBounds(value.Length, 0, value.Length), frame);
    }

    [Fact]
    public void CompletionMidValue_IsTruncatedAfterTheCompleteValues() =>
        AssertFails(Decode(Framing.MessagePackObject(), Bytes("01"), Bytes("9201")), FrameError.Truncated, Bytes("01"));

    [Fact]
    public void AValueHasNoHeader_SoTheEncodedMaximumIsTheMaximum() =>
        Assert.Equal(100, Framing.MessagePackObject(100).MaxEncodedFrameSize);

    [Fact]
    public void AMaximumOfLessThanOneByte_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>("maxFrameSize", () => Framing.MessagePackObject(0));
}
