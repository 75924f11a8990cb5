using System.Reactive.Subjects;
using CsCheck;

namespace Asio2.Rx.Tests.Framings;


/// <summary>One frame as it goes on the wire, and the payload a decoder should deliver for it.</summary>
internal sealed record WireFrame(byte[] Wire, byte[] Payload);

/// <summary>What decoding a byte stream gave: payloads (hex), the error that ended it, and whether it completed.</summary>
internal sealed record Outcome(IReadOnlyList<string> Frames, Exception? Error, bool Completed)
{
    public FrameError? FrameError => (Error as FrameException)?.Error;
}

/// <summary>
/// The checks every framing gets. Each input is decoded twice, by a model of the session read loop and by the
/// <see cref="FramingObservable.Frame"/> operator, and both must agree, so every framing test also tests the operator.
/// </summary>
internal static class FramingTestKit
{
    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);

    public static byte[] Concat(IEnumerable<byte[]> parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Cuts <paramref name="stream"/> into chunks whose sizes cycle through <paramref name="sizes"/>.</summary>
    public static List<byte[]> Split(byte[] stream, IReadOnlyList<int> sizes)
    {
        var chunks = new List<byte[]>();
        for (int at = 0, i = 0; at < stream.Length; i++)
        {
            int size = Math.Min(sizes[i % sizes.Count], stream.Length - at);
            chunks.Add(stream[at..(at + size)]);
            at += size;
        }
        return chunks;
    }

    public static List<byte[]> ByteByByte(byte[] stream) => Split(stream, [1]);

    /// <summary>Decodes <paramref name="chunks"/> with the read-loop model and the operator, asserts they agree, and returns the outcome.</summary>
    public static Outcome Decode(Framing framing, IEnumerable<byte[]> chunks, bool complete = true)
    {
        IReadOnlyList<byte[]> list = chunks.ToList();
        Outcome loop = ReadLoop(framing, list, complete);
        Outcome op = Operator(framing, list, complete);
        Assert.Equal(loop.Frames, op.Frames);
        Assert.Equal(loop.Error?.GetType(), op.Error?.GetType());
        Assert.Equal(loop.FrameError, op.FrameError);
        Assert.Equal(loop.Completed, op.Completed);
        return loop;
    }

    public static Outcome Decode(Framing framing, params byte[][] chunks) => Decode(framing, chunks, complete: true);

    /// <summary>Asserts the outcome is exactly <paramref name="payloads"/>, then completion.</summary>
    public static void AssertFrames(Outcome outcome, IEnumerable<byte[]> payloads)
    {
        Assert.Null(outcome.Error);
        Assert.Equal(payloads.Select(p => Hex(p)), outcome.Frames);
        Assert.True(outcome.Completed);
    }

    /// <summary>Asserts the outcome is <paramref name="payloads"/>, then a <see cref="FrameException"/> of <paramref name="error"/>.</summary>
    public static void AssertFails(Outcome outcome, FrameError error, params byte[][] payloads)
    {
        Assert.Equal(payloads.Select(p => Hex(p)), outcome.Frames);
        Assert.Equal(error, outcome.FrameError);
        Assert.False(outcome.Completed);
    }

    /// <summary>Every prefix of the frames yields exactly the frames it holds whole; ending there is fine on a frame
    /// boundary and <see cref="FrameError.Truncated"/> anywhere else.</summary>
    public static void AssertEveryPrefix(Framing framing, IReadOnlyList<WireFrame> frames)
    {
        byte[] stream = Concat(frames.Select(f => f.Wire));
        for (int length = 0; length <= stream.Length; length++)
        {
            var whole = new List<byte[]>();
            int end = 0;
            foreach (WireFrame frame in frames)
            {
                if (end + frame.Wire.Length > length)
                    break;
                end += frame.Wire.Length;
                whole.Add(frame.Payload);
            }

            Outcome open = Decode(framing, [stream[..length]], complete: false);
            Assert.Null(open.Error);
            Assert.Equal(whole.Select(p => Hex(p)), open.Frames);

            Outcome ended = Decode(framing, [stream[..length]], complete: true);
            if (end == length)
                AssertFrames(ended, whole);
            else
                AssertFails(ended, FrameError.Truncated, [.. whole]);
        }
    }

    /// <summary>The frames fed one byte at a time come out whole.</summary>
    public static void AssertByteByByte(Framing framing, IReadOnlyList<WireFrame> frames) =>
        AssertFrames(Decode(framing, ByteByByte(Concat(frames.Select(f => f.Wire)))), frames.Select(f => f.Payload));

    /// <summary>Property: any split of any sequence of frames from <paramref name="frames"/> yields exactly those frames.</summary>
    public static void AssertAnySplitYieldsTheFrames(Framing framing, Gen<WireFrame> frames, int iterations = 200) =>
        Gen.Select(frames.Array[0, 12], Gen.Int[1, 40].Array[1, 8]).Sample((sequence, sizes) =>
        {
            List<byte[]> chunks = Split(Concat(sequence.Select(f => f.Wire)), sizes);
            AssertFrames(Decode(framing, chunks), sequence.Select(f => f.Payload));
        }, iter: iterations);

    /// <summary>
    /// The session read loop, as the contract in <see cref="FrameDecoder"/> describes it: one linear buffer,
    /// <see cref="FrameDecoder.TryDecode"/> at the start of the unconsumed bytes until it says false, drop
    /// <see cref="FrameBounds.Consumed"/> after each frame, and <see cref="FrameDecoder.TryDecodeFinal"/> at the end.
    /// Also asserts what the read loop relies on: sane bounds, and a false result only below <see cref="Framing.MaxEncodedFrameSize"/>.
    /// </summary>
    private static Outcome ReadLoop(Framing framing, IReadOnlyList<byte[]> chunks, bool complete)
    {
        FrameDecoder decoder = framing.CreateDecoder();
        var frames = new List<string>();
        byte[] buffer = new byte[64];
        int start = 0, count = 0;

        bool Next(bool final)
        {
            var pending = new ReadOnlyMemory<byte>(buffer, start, count);
            bool found = final ? decoder.TryDecodeFinal(pending, out FrameBounds frame) : decoder.TryDecode(pending, out frame);
            if (!found)
                return false;
            Assert.InRange(frame.Consumed, 1, count);
            Assert.InRange(frame.PayloadOffset, 0, frame.Consumed);
            Assert.InRange(frame.PayloadLength, 0, frame.Consumed - frame.PayloadOffset);
            frames.Add(Hex(pending.Span.Slice(frame.PayloadOffset, frame.PayloadLength)));
            start += frame.Consumed;
            count -= frame.Consumed;
            return true;
        }

        try
        {
            foreach (byte[] chunk in chunks)
            {
                if (start + count + chunk.Length > buffer.Length)
                {
                    var grown = new byte[Math.Max(buffer.Length * 2, count + chunk.Length)];
                    buffer.AsSpan(start, count).CopyTo(grown);
                    buffer = grown;
                    start = 0;
                }
                chunk.CopyTo(buffer, start + count);
                count += chunk.Length;
                while (count > 0 && Next(final: false))
                {
                }
                Assert.True(count < framing.MaxEncodedFrameSize, $"TryDecode asked for more with {count} bytes buffered; MaxEncodedFrameSize is {framing.MaxEncodedFrameSize}");
            }

            if (!complete)
                return new Outcome(frames, null, false);
            while (count > 0 && Next(final: true))
            {
            }
            return count == 0
                ? new Outcome(frames, null, true)
                : new Outcome(frames, new FrameException(FrameError.Truncated, "ended mid-frame"), false);
        }
        catch (Exception e) when (e is FrameException or InvalidOperationException)
        {
            return new Outcome(frames, e, false);
        }
    }

    /// <summary>
    /// The operator over a source that reuses (and scribbles over) one buffer for every chunk. Payloads are read only at
    /// the end, so any payload still pointing into the source's memory, or into memory the operator reused, shows up wrong.
    /// </summary>
    private static Outcome Operator(Framing framing, IReadOnlyList<byte[]> chunks, bool complete)
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var payloads = new List<ReadOnlyMemory<byte>>();
        Exception? error = null;
        bool completed = false;
        using IDisposable subscription = source.Frame(framing).Subscribe(payloads.Add, e => error = e, () => completed = true);

        byte[] reused = new byte[chunks.Count == 0 ? 0 : chunks.Max(c => c.Length)];
        foreach (byte[] chunk in chunks)
        {
            chunk.CopyTo(reused, 0);
            source.OnNext(reused.AsMemory(0, chunk.Length));
            reused.AsSpan().Fill(0xA5);
        }
        if (complete)
            source.OnCompleted();
        return new Outcome(payloads.Select(p => Hex(p.Span)).ToList(), error, completed);
    }
}
