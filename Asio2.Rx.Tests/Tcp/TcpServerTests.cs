using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.Tcp;

public class TcpServerTests
{
    [Fact]
    public async Task FirstFrame_IsSeenBySelectManyOverSessions()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var first = server.Sessions.SelectMany(s => s.Frames).First("first frame");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        // Sent immediately on connect: it may arrive before the session is announced, and must not be lost.
        await socket.SendAsync(Encoding.ASCII.GetBytes("first\n"));
        Assert.Equal("first", (await first).Text);
    }

    [Fact]
    public async Task SubscriberThatThrows_ClosesOnlyItsSession()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var closes = server.Sessions.SelectMany(s => s.Closed).Replay();
        closes.Connect();
        // One subscription per session (Rx's Subscribe: the throw ends this session's subscription only).
        server.Sessions.Subscribe(session => session.Frames.Subscribe(f =>
        {
            if (f.Text == "boom") throw new InvalidOperationException("handler bug");
            f.Session.Send(f.Text + "\n");
        }));
        var endPoint = server.Start("127.0.0.1", 0);

        using var good = await Wait.ConnectRaw(endPoint);
        using var bad = await Wait.ConnectRaw(endPoint);
        await bad.SendAsync(Encoding.ASCII.GetBytes("boom\n"));
        var reason = await closes.First("the faulty session's close");
        Assert.Equal(CloseKind.UserCodeFault, reason.Kind);
        Assert.IsType<InvalidOperationException>(reason.Exception);

        await good.SendAsync(Encoding.ASCII.GetBytes("still here\n"));
        Assert.Equal("still here\n", Encoding.ASCII.GetString(await Wait.ReadExactly(good, 11)));
        Assert.Equal(1, server.SessionCount);
    }

    [Fact]
    public async Task HeadlineIdiom_HandlerThatThrowsOnOneSessionsFrame_ClosesThatSession_EveryOtherSessionIsStillServed()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var closes = server.Sessions.SelectMany(s => s.Closed).Replay();
        closes.Connect();
        // The README's line, with a handler bug that one session's frame triggers.
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f =>
        {
            if (f.Text == "boom") throw new InvalidOperationException("handler bug");
            f.Session.Send(f.Text + "\n");
        });
        var endPoint = server.Start("127.0.0.1", 0);
        using var before = await Wait.ConnectRaw(endPoint);
        await Echo(before, "before");
        using var bad = await Wait.ConnectRaw(endPoint);
        await Echo(bad, "bad");

        await bad.SendAsync(Encoding.ASCII.GetBytes("boom\n"));
        var reason = await closes.First("the faulty session's close");
        Assert.Equal(CloseKind.UserCodeFault, reason.Kind);
        Assert.IsType<InvalidOperationException>(reason.Exception);

        // The same subscription keeps serving the session that was open before and one that opens after.
        await Echo(before, "still served");
        using var after = await Wait.ConnectRaw(endPoint);
        await Echo(after, "after");
        Assert.Equal(2, server.SessionCount);
    }

    private static async Task Echo(Socket socket, string line)
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(line + "\n"));
        Assert.Equal(line + "\n", Encoding.ASCII.GetString(await Wait.ReadExactly(socket, line.Length + 1)));
    }

    [Fact]
    public async Task PeerThatNeverReads_SessionClosesWithOverflow_AndQueueStaysUnderBound()
    {
        const int bound = 256 * 1024;
        await using var server = new TcpServer(new TcpServerOptions
        {
            MaxSendQueueBytes = bound,
            SocketSendBufferSize = 16 * 1024,
        });
        var sessionTask = server.Sessions.First("session");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 16 * 1024 };
        await socket.ConnectAsync(endPoint);
        var session = await sessionTask;
        var closed = session.Closed.First("close");

        var chunk = new byte[32 * 1024];
        long maxQueued = 0;
        int sends = 0;
        // The peer never reads: kernel buffers fill, then the queue, then the bound is crossed.
        while (session.IsOpen && sends < 100_000)
        {
            _ = session.Send(chunk);
            maxQueued = Math.Max(maxQueued, session.QueuedSendBytes);
            sends++;
        }
        var reason = await closed;
        Assert.Equal(CloseKind.SendQueueOverflow, reason.Kind);
        Assert.True(maxQueued <= bound, $"queued {maxQueued} bytes, bound {bound}");
        var rejected = session.Send(chunk);
        Assert.True(rejected.IsRejected);
        await Assert.ThrowsAsync<SessionClosedException>(() => rejected.AsTask());
    }

    [Fact]
    public async Task SendQueueFull_WithRejectPolicy_RefusesTheSendAndKeepsTheSession()
    {
        await using var server = new TcpServer(new TcpServerOptions
        {
            MaxSendQueueBytes = 64 * 1024,
            SendQueueFullPolicy = SendQueueFullPolicy.Reject,
            SocketSendBufferSize = 8 * 1024,
        });
        var sessionTask = server.Sessions.First("session");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 8 * 1024 };
        await socket.ConnectAsync(endPoint);
        var session = await sessionTask;

        SendResult result = default;
        for (int i = 0; i < 10_000 && !result.IsRejected; i++) result = session.Send(new byte[8 * 1024]);
        Assert.True(result.IsRejected);
        var error = await Assert.ThrowsAsync<SendRejectedException>(() => result.AsTask());
        Assert.Equal(SendRejection.QueueFull, error.Rejection);
        Assert.True(session.IsOpen);
    }

    [Fact]
    public async Task BlockedSubscriber_StopsReading_AtMostOneReadWaits_AndTcpHoldsTheSenderBack()
    {
        const int readSize = 16 * 1024;
        const int total = 32 * 1024 * 1024;
        using var loop = new SchedulerPool(1); // its own event loop: the blocked handler stalls no other test's sessions
        await using var server = new TcpServer(new TcpServerOptions
        {
            Schedulers = loop,
            ReceiveBufferSize = readSize, // what one read takes (raw frames never need the buffer to grow)
            SocketReceiveBufferSize = 64 * 1024,
        });
        using var gate = new ManualResetEventSlim(false);
        var blocked = new TaskCompletionSource<Session>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long processed = 0, maxWaiting = 0;
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            // Read from the socket and not yet processed, this frame's read included.
            maxWaiting = Math.Max(maxWaiting, s.BytesReceived - processed);
            if (processed == 0)
            {
                blocked.TrySetResult(s);
                gate.Wait(Wait.Long); // the slow subscriber: blocked until the test has seen the sender held back
            }
            if ((processed += f.Length) == total) done.TrySetResult();
        }));
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        socket.SendBufferSize = 64 * 1024;
        socket.Blocking = false;
        var data = new byte[total];

        int sent = SendUntilTheKernelRefuses(socket, data, 0);
        var session = await blocked.Task.WaitAsync(Wait.Long);
        // The subscriber is blocked: fill whatever the first read freed. The kernel refuses more only because nothing
        // reads; a session that went on reading into memory would take it all.
        sent = SendUntilTheKernelRefuses(socket, data, sent);
        Assert.True(sent < total, "32 MiB cannot fit in the socket buffers: the sender must be held back");
        Assert.True(session.BytesReceived <= readSize, $"{session.BytesReceived} bytes read while the subscriber was blocked on the first read");

        gate.Set();
        socket.Blocking = true;
        await socket.SendAsync(data.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(Wait.Long);
        await done.Task.WaitAsync(Wait.Long);
        Assert.Equal(total, processed);
        Assert.True(maxWaiting <= readSize, $"{maxWaiting} bytes waited for the subscriber; one read is {readSize}");
    }

    /// <summary>Writes on a non-blocking socket until the kernel has no room (the peer's window and our send buffer are full).</summary>
    private static int SendUntilTheKernelRefuses(Socket socket, byte[] data, int from)
    {
        while (from < data.Length)
        {
            int n = socket.Send(data, from, data.Length - from, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) break;
            if (error != SocketError.Success) throw new SocketException((int)error);
            from += n;
        }
        return from;
    }

    [Fact]
    public async Task PeerResetMidFrame_FramesComplete_ReasonIsReset()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram() });
        var errors = new List<Exception>();
        server.Sessions.Subscribe(_ => { }, errors.Add);
        var sessionTask = server.Sessions.First("session");
        var endPoint = server.Start("127.0.0.1", 0);
        var socket = await Wait.ConnectRaw(endPoint);
        var session = await sessionTask;
        var frames = session.Frames.ToList().ToTask();
        var first = session.Frames.First("the complete frame");
        var closed = session.Closed.First("close");

        // One complete frame, then half of the next (header announces 200 bytes, 3 arrive), then RST.
        await socket.SendAsync(new byte[] { 2, 0xAA, 0xBB, 200, 1, 2, 3 });
        await first;
        Assert.Equal(7, session.BytesReceived); // one segment, one read: the partial frame was read with the complete one
        socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        socket.Close();

        var reason = await closed;
        Assert.Equal(CloseKind.Reset, reason.Kind);
        var received = await frames.WaitAsync(Wait.Long);
        Assert.Single(received);
        Assert.Equal(new byte[] { 0xAA, 0xBB }, received[0].Data.ToArray());
        Assert.Empty(errors);
    }

    [Fact]
    public async Task IllegalDatagramHeader_ClosesWithProtocolError_AfterEchoingEarlierFrames()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram() });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data));
        var closed = server.Sessions.SelectMany(s => s.Closed).First("close");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        // A valid 1-byte frame, then FE with a value below 254: not the shortest form, illegal (asio2 vectors).
        await socket.SendAsync(new byte[] { 1, 0x42, 0xFE, 0x05, 0x00 });
        var reply = await Wait.ReadExactly(socket, 3);
        Assert.Equal(new byte[] { 1, 0x42 }, reply); // echo, then end of stream
        Assert.Equal(CloseKind.ProtocolError, (await closed).Kind);
    }

    [Fact]
    public async Task OversizeFrame_ClosesWithFrameTooLarge()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n', maxFrameSize: 100) });
        var closed = server.Sessions.SelectMany(s => s.Closed).First("close");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        await socket.SendAsync(new byte[1000]);
        Assert.Equal(CloseKind.FrameTooLarge, (await closed).Kind);
    }

    [Fact]
    public async Task StopAsync_FlushesAcceptedSends_ThenCompletesEveryStream()
    {
        const int size = 4 * 1024 * 1024;
        var server = new TcpServer();
        var sessionsCompleted = server.Sessions.LastOrDefaultAsync().ToTask();
        var sessionTask = server.Sessions.First("session");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        var session = await sessionTask;
        var framesCompleted = session.Frames.LastOrDefaultAsync().ToTask();
        var payload = Enumerable.Range(0, size).Select(i => (byte)(i * 7)).ToArray();

        _ = session.Send(payload); // accepted, mostly unsent: the client has not read yet
        var stopping = server.StopAsync();
        var received = await Wait.ReadExactly(socket, size + 1);

        Assert.Equal(payload, received); // everything, then end of stream
        await stopping.WaitAsync(Wait.Long);
        await sessionsCompleted.WaitAsync(Wait.Long);
        await framesCompleted.WaitAsync(Wait.Long);
        Assert.Equal(CloseKind.Stopped, (await session.Closed.First("close")).Kind);
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public async Task Broadcast_ReachesEverySession_AndLookupFindsThem()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var three = server.Sessions.Take(3).ToList().ToTask();
        var endPoint = server.Start("127.0.0.1", 0);
        var sockets = new[] { await Wait.ConnectRaw(endPoint), await Wait.ConnectRaw(endPoint), await Wait.ConnectRaw(endPoint) };
        var sessions = await three.WaitAsync(Wait.Long);
        Assert.All(sessions, s => Assert.Same(s, server.FindSession(s.Id)));
        Assert.Equal(3, server.Broadcast("all\n"));
        foreach (var socket in sockets)
        {
            Assert.Equal("all\n", Encoding.ASCII.GetString(await Wait.ReadExactly(socket, 4)));
            socket.Dispose();
        }
    }

    [Fact]
    public async Task MaxSessions_ExtraConnectionsAreClosed()
    {
        await using var server = new TcpServer(new TcpServerOptions { MaxSessions = 1 });
        var first = server.Sessions.First("session");
        var endPoint = server.Start("127.0.0.1", 0);
        using var a = await Wait.ConnectRaw(endPoint);
        await first;
        using var b = await Wait.ConnectRaw(endPoint);
        var eof = await Wait.ReadExactly(b, 1);
        Assert.Empty(eof);
        Assert.Equal(1, server.SessionCount);
    }

    [Fact]
    public async Task UserData_IsKeptPerSession()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.Subscribe(s => s.UserData = 0);
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f =>
        {
            int count = (int)f.Session.UserData! + 1;
            f.Session.UserData = count;
            f.Session.Send($"{count}\n");
        });
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes("a\nb\nc\n"));
        Assert.Equal("1\n2\n3\n", Encoding.ASCII.GetString(await Wait.ReadExactly(socket, 6)));
    }
}
