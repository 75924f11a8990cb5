using System.Net.WebSockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>The session against System.Net's client WebSocket over loopback TCP.</summary>
public class WebSocketSessionTests
{
    [Fact]
    public async Task TextAndBinaryMessages_ArriveAsOneFrameEach_WithTheirKind()
    {
        Task<IList<Frame>>? frames = null;
        var (session, client, _) = await WsRig.ServerAndNetClient(beforeStart: s => frames = s.Take(3));

        await client.SendAsync(Encoding.UTF8.GetBytes("héllo"), WebSocketMessageType.Text, true, default);
        await client.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, default);
        await client.SendAsync(Array.Empty<byte>(), WebSocketMessageType.Binary, true, default);
        var got = await frames!;

        Assert.Equal(FrameKind.Text, got[0].Kind);
        Assert.Equal("héllo", got[0].Text);
        Assert.Equal(FrameKind.Binary, got[1].Kind);
        Assert.Equal(new byte[] { 1, 2, 3 }, got[1].Data.ToArray());
        Assert.Equal(0, got[2].Length);
        Assert.Same(session, got[0].Session);
    }

    [Fact]
    public async Task FragmentedMessage_IsReassembledIntoOneFrame()
    {
        Task<IList<Frame>>? frames = null;
        var (_, client, _) = await WsRig.ServerAndNetClient(beforeStart: s => frames = s.Take(2));

        await client.SendAsync(Encoding.UTF8.GetBytes("frag"), WebSocketMessageType.Text, false, default);
        await client.SendAsync(Encoding.UTF8.GetBytes("men"), WebSocketMessageType.Text, false, default);
        await client.SendAsync(Encoding.UTF8.GetBytes("ted"), WebSocketMessageType.Text, true, default);
        var big = new byte[200_000];
        Random.Shared.NextBytes(big);
        for (int i = 0; i < big.Length; i += 50_000)
            await client.SendAsync(big.AsMemory(i, 50_000), WebSocketMessageType.Binary, i + 50_000 == big.Length, default);
        var got = await frames!;

        Assert.Equal("fragmented", got[0].Text);
        Assert.Equal(big, got[1].Data.ToArray());
    }

    [Fact]
    public async Task SendText_SendBytes_ReachThePeerAsTextAndBinaryMessages()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();

        _ = ((Session)session).Send("text via Session.Send(string)");
        _ = ((Session)session).Send(new byte[] { 9, 8 });
        _ = session.Send(Encoding.UTF8.GetBytes("kind given"), FrameKind.Text);

        var m1 = await client.ReceiveMessage();
        var m2 = await client.ReceiveMessage();
        var m3 = await client.ReceiveMessage();
        Assert.Equal((WebSocketMessageType.Text, "text via Session.Send(string)"), (m1.Type, Encoding.UTF8.GetString(m1.Data)));
        Assert.Equal(WebSocketMessageType.Binary, m2.Type);
        Assert.Equal(new byte[] { 9, 8 }, m2.Data);
        Assert.Equal(WebSocketMessageType.Text, m3.Type);
    }

    [Theory]
    [InlineData(FrameKind.Binary)]
    [InlineData(FrameKind.Text)]
    public async Task StreamedMessageFromAnObservableOfChunks_ArrivesAsOneMessage_WithEveryByte(FrameKind kind)
    {
        var (session, client, _) = await WsRig.ServerAndNetClient(new WebSocketOptions { MaxSendQueueBytes = 256 * 1024 });
        // 2 MiB in 7 777-byte chunks; as text, "é" (2 bytes in UTF-8) runs across every chunk boundary.
        byte[] data = kind == FrameKind.Text
            ? Encoding.UTF8.GetBytes(new string('é', 1024 * 1024))
            : Enumerable.Range(0, 2 * 1024 * 1024).Select(i => (byte)(i * 31 + (i >> 8))).ToArray();
        var chunks = new Subject<ReadOnlyMemory<byte>>();

        var sent = session.SendAsync(chunks, kind);
        _ = session.Send("sent while the message streams"); // waits behind the streamed message
        for (int i = 0; i < data.Length; i += 7777) chunks.OnNext(data.AsMemory(i, Math.Min(7777, data.Length - i)));
        chunks.OnCompleted();

        var message = await client.ReceiveMessage();
        Assert.Equal(kind == FrameKind.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary, message.Type);
        Assert.True(data.AsSpan().SequenceEqual(message.Data), $"{message.Data.Length} of {data.Length} bytes, in order");
        Assert.Equal("sent while the message streams", Encoding.UTF8.GetString((await client.ReceiveMessage()).Data));
        await sent.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task StreamedMessageWhoseSourceFailsMidway_ClosesTheSession_AndThePeerNeverGetsHalfAMessage()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();
        var chunks = new Subject<ReadOnlyMemory<byte>>();

        var sent = session.SendAsync(chunks);
        chunks.OnNext(new byte[1000]);
        chunks.OnError(new IOException("the source broke"));

        await Assert.ThrowsAsync<IOException>(() => sent.WaitAsync(Wait.Long));
        var reason = await session.ClosedReason();
        Assert.Equal((CloseKind.LocalAbort, 1006), (reason.Kind, reason.Code));
        await Assert.ThrowsAsync<WebSocketException>(() => client.ReceiveMessage());
    }

    [Fact]
    public async Task HoldReading_KeepsWaitingBytesUnderTheBound_AndEverythingArrivesAfterRelease()
    {
        // 16 MiB in 4 KiB messages, sent flat out, against a consumer that holds reading while it works on each message,
        // one after the other, off the session's scheduler; its work (hashing each message 64 times) is slower than
        // reading, so without read credit messages would pile up behind it. What the session read and the consumer has
        // not processed stays under the bound instead.
        const int Messages = 4096, Size = 4096, Wire = Size + 8; // a masked client frame: 2 + 2 (length) + 4 (mask) header bytes
        var options = new WebSocketOptions { MaxPendingReceiveBytes = 32 * 1024, ReceiveBufferSize = 4096 };
        long delivered = 0, processed = 0, maxWaiting = 0;
        Task work = Task.CompletedTask; // the consumer's steps, in order
        bool intact = true;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (session, client, _) = await WsRig.ServerAndNetClient(options, s => s.Frames.Subscribe(f =>
        {
            var hold = s.HoldReading();
            long i = delivered++; // frames arrive one at a time on the session's scheduler
            maxWaiting = Math.Max(maxWaiting, s.BytesReceived - (Interlocked.Read(ref processed) + 1) * Wire); // read, minus processed, minus this one
            work = work.ContinueWith(_ =>
            {
                Span<byte> hash = stackalloc byte[32];
                for (int k = 0; k < 64; k++) System.Security.Cryptography.SHA256.HashData(f.Span, hash);
                if (f.Length != Size || f.Span.IndexOfAnyExcept((byte)i) >= 0) intact = false;
                if (Interlocked.Increment(ref processed) == Messages) done.TrySetResult();
                hold.Dispose();
            }, TaskScheduler.Default);
        }));

        var message = new byte[Size];
        for (int i = 0; i < Messages; i++)
        {
            Array.Fill(message, (byte)i);
            await client.SendAsync(message, WebSocketMessageType.Binary, true, default).WaitAsync(Wait.Long);
        }
        await done.Task.WaitAsync(TimeSpan.FromMinutes(3)); // 4 096 steps one after the other: slow on a loaded machine

        Assert.True(intact, "every message arrived whole and in order");
        Assert.Equal(Messages, session.FramesReceived);
        // One batch (under the bound, as the messages are smaller than it) and one receive in flight; System.Net reads
        // frame headers through a 125-byte buffer of its own.
        long bound = options.MaxPendingReceiveBytes + options.ReceiveBufferSize + 125;
        Assert.True(maxWaiting <= bound, $"{maxWaiting} bytes waited in the session; the bound is {bound}");
    }

    [Fact]
    public async Task BytesSent_CountsTheFramesOnTheWire()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();
        await session.Send("hello");                       // 2-byte header + 5
        await session.Send(new byte[200]);                 // 4-byte header + 200
        await client.ReceiveMessage();
        await client.ReceiveMessage();
        Assert.Equal(7 + 204, session.BytesSent);
    }

    [Fact]
    public async Task EchoOfManyMessages_KeepsOrderAndBoundaries()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient(beforeStart: s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        const int count = 2000;
        var send = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++) await client.SendAsync(BitConverter.GetBytes(i), WebSocketMessageType.Binary, true, default);
        });
        for (int i = 0; i < count; i++)
        {
            var m = await client.ReceiveMessage();
            Assert.Equal(i, BitConverter.ToInt32(m.Data));
        }
        await send;
        Assert.Equal(count, session.FramesReceived);
    }

    [Fact]
    public async Task PeerCloseFrame_IsTheCloseReason_WithCodeAndText_AndIsAnswered()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();
        var closed = session.ClosedReason();

        await client.CloseAsync((WebSocketCloseStatus)4001, "bye now", default).WaitAsync(Wait.Long);
        var reason = await closed;

        Assert.Equal(CloseKind.RemoteClose, reason.Kind);
        Assert.Equal(4001, reason.Code);
        Assert.Equal("bye now", reason.Message);
        Assert.Equal(WebSocketState.Closed, client.State); // our close frame answered theirs
        Assert.Equal((WebSocketCloseStatus)4001, client.CloseStatus);
    }

    [Fact]
    public async Task CloseWithCode_SendsItAfterQueuedMessages()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();
        var closed = session.ClosedReason();

        _ = session.Send("last words");
        session.Close(4321, "done here");

        var m = await client.ReceiveMessage();
        Assert.Equal("last words", Encoding.UTF8.GetString(m.Data));
        var c = await client.ReceiveMessage();
        Assert.Equal(WebSocketMessageType.Close, c.Type);
        Assert.Equal((WebSocketCloseStatus)4321, client.CloseStatus);
        Assert.Equal("done here", client.CloseStatusDescription);
        var reason = await closed;
        Assert.Equal((CloseKind.LocalClose, 4321), (reason.Kind, reason.Code));
    }

    [Fact]
    public async Task PlainClose_Sends1000()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient();
        session.Close();
        var c = await client.ReceiveMessage();
        Assert.Equal(WebSocketMessageType.Close, c.Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
        Assert.Equal(1000, (await session.ClosedReason()).Code);
    }

    [Fact]
    public async Task AbruptDisconnect_Is1006_ExactlyOnce()
    {
        var (session, _, clientSocket) = await WsRig.ServerAndNetClient();
        var all = session.Closed.ToList().ToTask();
        clientSocket.Close();
        var reasons = await all.WaitAsync(Wait.Long);
        var reason = Assert.Single(reasons);
        Assert.Equal(1006, reason.Code);
        Assert.False(reason.IsLocal);
    }

    [Fact]
    public async Task MessageOverMaxMessageSize_Closes1009_AfterEarlierMessages()
    {
        Task<IList<Frame>>? frames = null;
        var (session, client, _) = await WsRig.ServerAndNetClient(new WebSocketOptions { MaxMessageSize = 1000 }, s => frames = s.Frames.ToList().ToTask());
        var closed = session.ClosedReason();

        await client.SendAsync(new byte[1000], WebSocketMessageType.Binary, true, default); // exactly the limit: fine
        await client.SendAsync(new byte[600], WebSocketMessageType.Binary, false, default);
        await client.SendAsync(new byte[600], WebSocketMessageType.Binary, true, default);

        var reason = await closed;
        Assert.Equal((CloseKind.FrameTooLarge, 1009), (reason.Kind, reason.Code));
        Assert.Single(await frames!.WaitAsync(Wait.Long));
        await client.ReceiveMessage();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, client.CloseStatus);
    }

    [Fact]
    public async Task UserCodeFault_ClosesOnlyThatSession()
    {
        var (session, client, _) = await WsRig.ServerAndNetClient(beforeStart: s => s.Frames.Subscribe(_ => throw new InvalidOperationException("boom")));
        await client.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, true, default);
        var reason = await session.ClosedReason();
        Assert.Equal(CloseKind.UserCodeFault, reason.Kind);
    }

    [Fact]
    public async Task PermessageDeflate_CompressesBothWays_AndTheOptOutSendsPlain()
    {
        var negotiated = PerMessageDeflate.Accept(["permessage-deflate; client_max_window_bits"], new WebSocketCompressionOptions())!;
        var clientSide = PerMessageDeflate.CheckResponse([negotiated.ResponseHeader], new WebSocketCompressionOptions(), out _)!;
        Task<IList<Frame>>? frames = null;
        WsRig.CountingStream? counter = null;
        var (session, client, _) = await WsRig.ServerAndNetClient(beforeStart: s => frames = s.Take(1), clientDeflate: clientSide.Options, serverDeflate: negotiated,
            wrapClient: s => counter = new WsRig.CountingStream(s));
        string text = string.Concat(Enumerable.Repeat("compress me please ", 1000));

        await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, default);
        Assert.Equal(text, (await frames!)[0].Text);
        Assert.True(session.BytesReceived < text.Length / 10, $"{session.BytesReceived} bytes on the wire for {text.Length}");

        await session.Send(text);
        Assert.Equal(text, Encoding.UTF8.GetString((await client.ReceiveMessage()).Data));
        long compressed = counter!.BytesRead;
        await session.Send(text, compress: false);
        Assert.Equal(text, Encoding.UTF8.GetString((await client.ReceiveMessage()).Data));
        Assert.True(compressed < text.Length / 10, $"{compressed} bytes on the wire for {text.Length}");
        Assert.True(counter.BytesRead - compressed > text.Length, "the opted-out message went uncompressed");
        Assert.True(session.IsCompressed);
    }
}
