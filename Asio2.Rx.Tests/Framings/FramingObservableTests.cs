using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Reactive.Testing;
using static Asio2.Rx.Tests.Framings.FramingTestKit;

namespace Asio2.Rx.Tests.Framings;


public class FramingObservableTests : ReactiveTest
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    private static byte[] ArrayBehind(ReadOnlyMemory<byte> payload)
    {
        Assert.True(MemoryMarshal.TryGetArray(payload, out ArraySegment<byte> segment));
        return segment.Array!;
    }

    /// <summary>Subscribes to <paramref name="source"/> framed, collecting payloads and the terminal notification.</summary>
    private sealed class Recorder
    {
        public List<ReadOnlyMemory<byte>> Payloads { get; } = [];
        public Exception? Error { get; private set; }
        public bool Completed { get; private set; }
        public IDisposable Subscription { get; }

        public Recorder(IObservable<ReadOnlyMemory<byte>> source, Framing framing) =>
            Subscription = source.Frame(framing).Subscribe(Payloads.Add, e => Error = e, () => Completed = true);

        public IEnumerable<string> Texts => Payloads.Select(p => Encoding.ASCII.GetString(p.Span));
    }

    [Fact]
    public void FramesFoundInOneChunk_AreSlicesOfOneNewArrayHoldingJustTheirPayloads()
    {
        byte[] big = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        byte[] chunk = Concat([Framing.Datagram().Encode(Bytes("0102")), Framing.Datagram().Encode(big), Framing.Datagram().Encode(Bytes("03"))]);
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Datagram());

        source.OnNext(chunk);

        Assert.Equal(3, recorder.Payloads.Count);
        byte[] batch = ArrayBehind(recorder.Payloads[0]);
        Assert.All(recorder.Payloads, p => Assert.Same(batch, ArrayBehind(p)));
        Assert.NotSame(chunk, batch);
        Assert.Equal(2 + big.Length + 1, batch.Length);
        Assert.Equal(big, recorder.Payloads[1].ToArray());
    }

    [Fact]
    public void ABigFrameArrivingInPieces_IsDeliveredInANewArrayOfExactlyItsSize()
    {
        byte[] big = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Datagram());

        foreach (byte[] piece in Split(Framing.Datagram().Encode(big), [1000]))
            source.OnNext(piece);

        ReadOnlyMemory<byte> payload = Assert.Single(recorder.Payloads);
        Assert.Equal(big.Length, ArrayBehind(payload).Length);
        Assert.Equal(big, payload.ToArray());
    }

    [Fact]
    public void FramesFromDifferentChunks_DoNotShareAnArray()
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Delimiter('\n'));

        source.OnNext(Ascii("a\nb"));
        source.OnNext(Ascii("\nc\n"));

        Assert.Equal(["a", "b", "c"], recorder.Texts);
        Assert.NotSame(ArrayBehind(recorder.Payloads[0]), ArrayBehind(recorder.Payloads[1]));
        Assert.Same(ArrayBehind(recorder.Payloads[1]), ArrayBehind(recorder.Payloads[2]));
    }

    [Fact]
    public void APayloadKept_IsNotChangedByLaterInputThroughTheSameSourceBuffer()
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Delimiter('\n'));
        byte[] reused = new byte[4];

        foreach (string piece in new[] { "ab\nc", "d\nef", "\n\n\n\n" })
        {
            Ascii(piece).CopyTo(reused, 0);
            source.OnNext(reused);
        }

        Assert.Equal(["ab", "cd", "ef", "", "", ""], recorder.Texts);
    }

    [Fact]
    public void OneChunkOfAThousandFrames_AllocatesOnlyTheirPayloadArray()
    {
        byte[] chunk = Concat(Enumerable.Range(0, 1000).Select(_ => Ascii("123456789\n")));
        var source = new Subject<ReadOnlyMemory<byte>>();
        var kept = new ReadOnlyMemory<byte>[2000];
        int count = 0;
        using IDisposable subscription = source.Frame(Framing.Delimiter('\n')).Subscribe(p => kept[count++] = p);
        source.OnNext(chunk); // warm up: JIT, and the operator's reusable list of frame bounds

        long before = GC.GetAllocatedBytesForCurrentThread();
        source.OnNext(chunk);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(2000, count);
        Assert.InRange(allocated, 9000, 9000 + 256); // 1000 payloads of 9 bytes, plus one array header
    }

    [Fact]
    public void IllegalInput_DeliversTheFramesBeforeItThenErrorsAndLeavesTheSource()
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Datagram());

        source.OnNext(Bytes("0161FE0500"));
        source.OnNext(Bytes("0162"));

        Assert.Equal(["a"], recorder.Texts);
        Assert.Equal(FrameError.IllegalHeader, Assert.IsType<FrameException>(recorder.Error).Error);
        Assert.False(source.HasObservers);
    }

    [Fact]
    public void TheSourceEndingMidFrame_IsATruncatedFrameException()
    {
        var recorder = new Recorder(new[] { (ReadOnlyMemory<byte>)Ascii("a\nb") }.ToObservable(), Framing.Delimiter('\n'));

        Assert.Equal(["a"], recorder.Texts);
        Assert.Equal(FrameError.Truncated, Assert.IsType<FrameException>(recorder.Error).Error);
    }

    [Fact]
    public void AnErrorOfTheSource_IsPassedOnAfterTheFramesBeforeIt()
    {
        var failure = new IOException("gone");
        var recorder = new Recorder(Observable.Return((ReadOnlyMemory<byte>)Ascii("a\nb")).Concat(Observable.Throw<ReadOnlyMemory<byte>>(failure)), Framing.Delimiter('\n'));

        Assert.Equal(["a"], recorder.Texts);
        Assert.Same(failure, recorder.Error);
    }

    [Fact]
    public void EachSubscription_HasItsOwnDecoder()
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var first = new Recorder(source, Framing.Delimiter('\n'));
        source.OnNext(Ascii("ab"));
        var second = new Recorder(source, Framing.Delimiter('\n'));

        source.OnNext(Ascii("c\n"));

        Assert.Equal(["abc"], first.Texts);
        Assert.Equal(["c"], second.Texts);
    }

    [Fact]
    public void DisposingTheSubscription_LeavesTheSource()
    {
        var source = new Subject<ReadOnlyMemory<byte>>();
        var recorder = new Recorder(source, Framing.Delimiter('\n'));

        recorder.Subscription.Dispose();

        Assert.False(source.HasObservers);
    }

    [Fact]
    public void EachFrame_IsDeliveredWhenTheChunkCompletingItArrives()
    {
        var scheduler = new TestScheduler();
        var source = scheduler.CreateHotObservable(
            OnNext(210, (ReadOnlyMemory<byte>)Ascii("ab")),
            OnNext(220, (ReadOnlyMemory<byte>)Ascii("c\nd")),
            OnNext(230, (ReadOnlyMemory<byte>)Ascii("\n")),
            OnCompleted<ReadOnlyMemory<byte>>(240));

        var results = scheduler.Start(() => source.Frame(Framing.Delimiter('\n')).Select(p => Encoding.ASCII.GetString(p.Span)));

        results.Messages.AssertEqual(OnNext(220, "abc"), OnNext(230, "d"), OnCompleted<string>(240));
        source.Subscriptions.AssertEqual(Subscribe(200, 240));
    }

    [Fact]
    public void NullArguments_AreRejected()
    {
        Assert.Throws<ArgumentNullException>("source", () => FramingObservable.Frame(null!, Framing.Raw));
        Assert.Throws<ArgumentNullException>("framing", () => Observable.Empty<ReadOnlyMemory<byte>>().Frame(null!));
    }
}
