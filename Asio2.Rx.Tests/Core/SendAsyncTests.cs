using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;

namespace Asio2.Rx.Tests.Core;

public class SendAsyncTests
{
    /// <summary>Bytes of a deterministic pattern: byte i of a payload is Pattern[i % Pattern.Length] (a prime length,
    /// so no power-of-two buffer boundary lines up with it).</summary>
    private static readonly byte[] Pattern = MakePattern(65521);

    private static byte[] MakePattern(int length)
    {
        var p = new byte[length];
        new Random(42).NextBytes(p);
        return p;
    }

    /// <summary>A server with one session: the raw socket on the other side plays the peer.</summary>
    private static async Task<(TcpServer Server, Session Session, Socket Peer)> Connect(Framing framing, int maxSendQueueBytes = 4 << 20)
    {
        var server = new TcpServer(new TcpServerOptions { Framing = framing, MaxSendQueueBytes = maxSendQueueBytes });
        var session = server.Sessions.First("the session");
        var endPoint = server.Start("127.0.0.1", 0);
        var peer = await Wait.ConnectRaw(endPoint);
        return (server, await session, peer);
    }

    [Fact]
    public async Task SendAsync_Stream_OneGiB_ToASlowReader_QueueStaysWithinItsBound_AndEveryByteArrives()
    {
        const long size = 1L << 30;
        const int bound = 1 << 20;
        var (server, session, peer) = await Connect(Framing.Raw, bound);
        await using var ownedServer = server;
        using var ownedPeer = peer;
        // The sender's memory: the queue's pooled segments, sampled before every piece the stream hands over (one
        // segment-sized buffer of its own on top).
        long peakQueueMemory = 0;
        var source = new PatternStream(size, () => peakQueueMemory = Math.Max(peakQueueMemory, session.SendBufferBytes));

        var send = session.SendAsync(source);
        long received = await ReadAndVerify(peer, size, chunk: 4096);

        await send.WaitAsync(Wait.Long);
        Assert.Equal(size, received);
        Assert.Equal(size, session.BytesSent);
        Assert.True(session.IsOpen);
        Assert.InRange(peakQueueMemory, bound / 2, bound); // it filled up (the sender waited) and never went past the bound
    }

    /// <summary>Reads <paramref name="size"/> bytes in small reads (slower than the sender), checking each against the pattern.</summary>
    private static async Task<long> ReadAndVerify(Socket peer, long size, int chunk)
    {
        var buffer = new byte[chunk];
        long got = 0;
        while (got < size)
        {
            int n = await peer.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Wait.Long);
            if (n == 0) break;
            for (int i = 0; i < n;)
            {
                int at = (int)((got + i) % Pattern.Length);
                int run = Math.Min(n - i, Pattern.Length - at);
                if (!buffer.AsSpan(i, run).SequenceEqual(Pattern.AsSpan(at, run))) throw new InvalidDataException($"wrong bytes at {got + i}");
                i += run;
            }
            got += n;
        }
        return got;
    }

    [Fact]
    public async Task SendAsync_LargerThanTheBound_WaitsForRoomInsteadOfClosing_WhilePlainSendStillCloses()
    {
        const int bound = 64 * 1024;
        var (server, session, peer) = await Connect(Framing.Raw, bound);
        await using var ownedServer = server;
        using var ownedPeer = peer;
        var payload = PatternBytes(5 << 20);

        var send = session.SendAsync(payload).AsTask();
        Assert.Equal(payload.Length, await ReadAndVerify(peer, payload.Length, chunk: 8192));
        await send.WaitAsync(Wait.Long);
        Assert.True(session.IsOpen);

        Assert.True(session.Send(payload).IsRejected);
        Assert.Equal(CloseKind.SendQueueOverflow, (await session.Closed.First("the close")).Kind);
    }

    [Fact]
    public async Task SendAsync_Sequence_WithALengthHeader_IsOneFrameWithOneHeader()
    {
        var framing = Framing.LengthField(4, new LengthFieldOptions { MaxFrameSize = 1 << 20 });
        await using var server = new TcpServer(new TcpServerOptions { Framing = framing, MaxSendQueueBytes = 64 * 1024 });
        var sessions = server.Sessions.Replay();
        sessions.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        await using var client = new TcpClient(new TcpClientOptions { Framing = framing });
        var frame = client.Frames.First("the frame");
        await client.Connect("127.0.0.1", endPoint.Port).First("connected");
        var session = await sessions.First("the session");

        var whole = PatternBytes(300_000);
        var sequence = Split(whole, 1000, 60_000, 200_000);
        await session.SendAsync(sequence).WaitAsync(Wait.Long);

        Assert.Equal(whole, (await frame).Data.ToArray());
        Assert.Equal(1, session.FramesSent);
    }

    [Fact]
    public async Task SendAsync_UnseekableStream_WithALengthHeader_IsGatheredIntoOneFrame()
    {
        var (server, session, peer) = await Connect(Framing.Datagram(maxFrameSize: 100_000));
        await using var ownedServer = server;
        using var ownedPeer = peer;

        await session.SendAsync(new PatternStream(60_000, () => { })).WaitAsync(Wait.Long);

        // Datagram framing: 0xFE, then a 2-byte little-endian length, then the payload.
        var wire = await Wait.ReadExactly(peer, 3 + 60_000);
        Assert.Equal(new byte[] { 254, 60_000 & 0xFF, (60_000 >> 8) & 0xFF }, wire[..3]);
        Assert.Equal(PatternBytes(60_000), wire[3..]);
    }

    [Fact]
    public async Task SendAsync_Observable_SendsEveryPieceInOrder_AsOneFrame()
    {
        var (server, session, peer) = await Connect(Framing.Raw);
        await using var ownedServer = server;
        using var ownedPeer = peer;
        var pieces = new Subject<ReadOnlyMemory<byte>>();

        var send = session.SendAsync(pieces);
        pieces.OnNext(Encoding.ASCII.GetBytes("one "));
        pieces.OnNext(Encoding.ASCII.GetBytes("two "));
        pieces.OnNext(Encoding.ASCII.GetBytes("three"));
        pieces.OnCompleted();
        await send.WaitAsync(Wait.Long);

        Assert.Equal("one two three", Encoding.ASCII.GetString(await Wait.ReadExactly(peer, 13)));
        Assert.Equal(1, session.FramesSent);
    }

    [Fact]
    public async Task Send_WhileAStreamedFrameIsQueued_GoesOutAfterTheWholeFrame_AndItsCompletionFollows()
    {
        var framing = Framing.Delimiter('\n');
        var (server, session, peer) = await Connect(framing);
        await using var ownedServer = server;
        using var ownedPeer = peer;
        var pieces = new Subject<ReadOnlyMemory<byte>>();

        var streamed = session.SendAsync(pieces);
        pieces.OnNext(Encoding.ASCII.GetBytes("first half, "));
        await Wait.ReadExactly(peer, 12); // the first piece is on the wire: the frame owns the queue now
        var plain = session.Send("after\n");
        Assert.False(plain.IsRejected);
        var plainDone = plain.AsTask();
        pieces.OnNext(Encoding.ASCII.GetBytes("second half\n"));
        pieces.OnCompleted();

        Assert.Equal("second half\nafter\n", Encoding.ASCII.GetString(await Wait.ReadExactly(peer, 18)));
        await streamed.WaitAsync(Wait.Long);
        await plainDone.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task SendAsync_CancelledInsideAFrameWithALengthHeader_ClosesTheSession()
    {
        var (server, session, peer) = await Connect(Framing.Datagram());
        await using var ownedServer = server;
        using var ownedPeer = peer;
        using var cancel = new CancellationTokenSource();
        var body = new GatedStream(10_000);

        var send = session.SendAsync(body, cancel.Token);
        await body.FirstReadDone.WaitAsync(Wait.Long);
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Wait.Long));
        var reason = await session.Closed.First("the close");
        Assert.Equal(CloseKind.LocalAbort, reason.Kind);
    }

    [Fact]
    public async Task SendAsync_CancelledWhileWaitingBehindAnotherFrame_SendsNothing_AndKeepsTheSessionOpen()
    {
        var (server, session, peer) = await Connect(Framing.Datagram());
        await using var ownedServer = server;
        using var ownedPeer = peer;
        var first = new Subject<ReadOnlyMemory<byte>>();
        using var cancel = new CancellationTokenSource();

        var owner = session.SendAsync(first); // gathers (unknown length under a header): owns the queue until it completes
        var waiting = session.SendAsync(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("never")), cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Wait.Long));
        first.OnNext(Encoding.ASCII.GetBytes("only"));
        first.OnCompleted();
        await owner.WaitAsync(Wait.Long);
        _ = session.Send("end");

        Assert.Equal("only|end", Decode(await Wait.ReadExactly(peer, 1 + 4 + 1 + 3)));
        Assert.True(session.IsOpen);
    }

    [Fact]
    public async Task SendAsync_OnUdp_SendsOneDatagram()
    {
        await using var server = new UdpServer();
        var frame = server.Sessions.SelectMany(s => s.Frames).First("the datagram");
        var endPoint = server.Start("127.0.0.1", 0);
        await using var client = new UdpClient();
        var session = await client.Connect("127.0.0.1", endPoint.Port).First("connected");

        await session.SendAsync(Split(Encoding.ASCII.GetBytes("one datagram"), 3, 7), FrameKind.Text).WaitAsync(Wait.Long);

        var got = await frame;
        Assert.Equal("one datagram", got.Text);
        Assert.Equal(FrameKind.Binary, got.Kind); // UDP carries no kind
    }

    [Fact]
    public void CloseReason_CarriesAProtocolCode_AndShowsIt()
    {
        var reason = new CloseReason(CloseKind.RemoteClose, null, "going away", 1001);
        Assert.Equal(1001, reason.Code);
        Assert.Equal("RemoteClose (1001): going away", reason.ToString());
        Assert.Null(new CloseReason(CloseKind.Reset).Code);
    }

    /// <summary>Datagram-framed frames (1-byte headers) decoded as "a|b|...".</summary>
    private static string Decode(byte[] wire)
    {
        var parts = new List<string>();
        for (int i = 0; i < wire.Length;)
        {
            int n = wire[i];
            parts.Add(Encoding.ASCII.GetString(wire, i + 1, n));
            i += 1 + n;
        }
        return string.Join('|', parts);
    }

    private static byte[] PatternBytes(int length)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i += Pattern.Length) Pattern.AsSpan(0, Math.Min(Pattern.Length, length - i)).CopyTo(b.AsSpan(i));
        return b;
    }

    /// <summary>A sequence over <paramref name="whole"/> cut at <paramref name="cuts"/>.</summary>
    private static ReadOnlySequence<byte> Split(byte[] whole, params int[] cuts)
    {
        var first = new Chunk(whole.AsMemory(0, cuts[0]), 0);
        var last = first;
        for (int i = 0; i < cuts.Length; i++)
            last = last.Append(whole.AsMemory(cuts[i], (i + 1 < cuts.Length ? cuts[i + 1] : whole.Length) - cuts[i]));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Chunk : ReadOnlySequenceSegment<byte>
    {
        public Chunk(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Chunk Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Chunk(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>An unseekable stream of <paramref name="length"/> pattern bytes; <paramref name="onRead"/> runs before each read.</summary>
    private sealed class PatternStream(long length, Action onRead) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            onRead();
            int n = (int)Math.Min(buffer.Length, length - _position);
            for (int i = 0; i < n;)
            {
                int at = (int)((_position + i) % Pattern.Length);
                int run = Math.Min(n - i, Pattern.Length - at);
                Pattern.AsSpan(at, run).CopyTo(buffer[i..]);
                i += run;
            }
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A seekable stream announcing <paramref name="length"/> bytes that returns one piece, then waits for cancellation.</summary>
    private sealed class GatedStream(long length) : Stream
    {
        private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _served;

        public Task FirstReadDone => _firstRead.Task;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get; set; }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_served)
            {
                _served = true;
                buffer.Span[..100].Fill(7);
                _firstRead.SetResult();
                return 100;
            }
            var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(() => never.TrySetCanceled(cancellationToken))) await never.Task;
            return 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
