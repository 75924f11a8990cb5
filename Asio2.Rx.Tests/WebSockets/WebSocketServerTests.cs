using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>The server side end to end: our client, node ws and python websockets as clients; hooks, stop, limits.</summary>
public class WebSocketServerTests
{
    private static WebSocketServer EchoServer(out IPEndPoint bound, WebSocketServerOptions? options = null)
    {
        var server = new WebSocketServer(options ?? new WebSocketServerOptions { MaxMessageSize = 32 * 1024 * 1024, MaxSendQueueBytes = 64 * 1024 * 1024 });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data.Span, f.Kind));
        bound = server.Start("127.0.0.1", 0);
        return server;
    }

    [Fact]
    public async Task OurClient_EchoesThroughOurServer_AndSeesTheUpgradeRequestOnTheSession()
    {
        await using var server = EchoServer(out var bound);
        var sessions = server.Sessions.First("the server session");
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, Headers = { new("Cookie", "sid=abc; theme=dark") } });
        var echo = client.Frames.Take(2).ToList().ToTask();
        await client.Connect($"ws://127.0.0.1:{bound.Port}/chat/room%201?user=ann&x=1").Timeout(Wait.Long);
        _ = client.Send("hi");
        _ = client.Send(new byte[] { 7 });

        var got = await echo.WaitAsync(Wait.Long);
        Assert.Equal((FrameKind.Text, "hi"), (got[0].Kind, got[0].Text));
        Assert.Equal(FrameKind.Binary, got[1].Kind);
        var request = ((WebSocketSession)await sessions).UpgradeRequest!;
        Assert.Equal("/chat/room 1", request.Path);
        Assert.Equal("ann", request.Query["user"]);
        Assert.Equal("abc", request.Cookies["sid"]);
        Assert.Equal("127.0.0.1:" + bound.Port, request.GetHeader("Host"));
    }

    [Fact]
    public async Task Sessions_IsHot_ALateSubscriberSeesOnlyLaterSessions()
    {
        await using var server = EchoServer(out var bound);
        var first = server.Sessions.First("the first session");
        await using var ann = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        await ann.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        var annOnServer = await first;

        var late = server.Sessions.First("the late subscriber's first session");
        await using var bob = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        await bob.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);

        Assert.NotSame(annOnServer, await late); // ann's session, announced before, is not replayed
        Assert.Equal(2, server.SessionCount);
    }

    [Fact]
    public async Task ServerStop_Sends1001_ToEverySession()
    {
        var server = EchoServer(out var bound);
        var serverSession = server.Sessions.First("the server session");
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        var session = await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        var closed = session.Closed.First("the client's close");
        await serverSession; // stopping before the announcement would close the upgrade at once, not with 1001
        await server.StopAsync().WaitAsync(Wait.Long);
        var reason = await closed;
        Assert.Equal((CloseKind.RemoteClose, 1001), (reason.Kind, reason.Code));
    }

    [Fact]
    public async Task BeforeHook_Refuses401_AndNoSessionExists()
    {
        await using var http = new HttpServer();
        var endpoint = http.MapWebSocket("/ws", null, HttpHook.Before(ctx =>
        {
            if (ctx.Request.Headers["Authorization"] == "Bearer good") return true;
            ctx.Response.Send(401, "who are you?");
            return false;
        }));
        // The server announces a session after its 101, so the client may hold its session first: await the announcement.
        var firstSession = endpoint.Sessions.First("the first session");
        var bound = http.Start("127.0.0.1", 0);

        await using var refused = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        var error = await Assert.ThrowsAsync<ConnectException>(() => refused.Connect($"ws://127.0.0.1:{bound.Port}/ws").Timeout(Wait.Long).ToTask());
        Assert.Equal(CloseKind.HandshakeFailed, error.Reason.Kind);
        Assert.Contains("401", error.Reason.Message);

        await using var allowed = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, Headers = { new("Authorization", "Bearer good") } });
        var allowedSession = await allowed.Connect($"ws://127.0.0.1:{bound.Port}/ws").Timeout(Wait.Long);
        Assert.Equal(allowedSession.LocalEndPoint, (await firstSession).RemoteEndPoint); // the refused client never became one
        Assert.Equal(1, endpoint.SessionCount);
    }

    [Fact]
    public async Task OriginCheck_RefusesABrowserFromAnotherSite_With403_AndNoSession()
    {
        await using var server = EchoServer(out var bound, new WebSocketServerOptions { OriginCheck = origin => origin == "https://good.example" });
        // The server announces a session after its 101, so the client may hold its session first: await the announcement.
        var firstSession = server.Sessions.First("the first session");

        await using var evil = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, Headers = { new("Origin", "https://evil.example") } });
        var error = await Assert.ThrowsAsync<ConnectException>(() => evil.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long).ToTask());
        Assert.Contains("403", error.Reason.Message);

        await using var good = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, Headers = { new("Origin", "https://good.example") } });
        var goodSession = await good.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        Assert.Equal(goodSession.LocalEndPoint, (await firstSession).RemoteEndPoint); // the refused browser never became one
        Assert.Equal(1, server.SessionCount);
    }

    [Fact]
    public async Task SubProtocol_IsAgreedOnBothSides()
    {
        await using var server = EchoServer(out var bound, new WebSocketServerOptions { SubProtocols = { "v2.chat", "v1.chat" } });
        var serverSession = server.Sessions.First("the server session");
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, SubProtocols = { "v1.chat", "v2.chat" } });

        var session = (WebSocketSession)await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);

        Assert.Equal("v2.chat", session.SubProtocol); // the server's preference among those offered
        Assert.Equal("v2.chat", ((WebSocketSession)await serverSession).SubProtocol);
    }

    [Fact]
    public async Task ProtocolError_IsTheSessionsCloseReason_1002_ExactlyOnce()
    {
        await using var server = EchoServer(out var bound);
        var sessionTask = server.Sessions.First("the raw client's session");
        using var raw = await RawWs.Connect(bound);
        var reasons = (await sessionTask).Closed.ToList().ToTask();

        await raw.Send(RawWs.Frame(3, [])); // a reserved opcode

        Assert.Equal(1002, await raw.ReadCloseCode());
        var reason = Assert.Single(await reasons.WaitAsync(Wait.Long));
        Assert.Equal((CloseKind.ProtocolError, 1002), (reason.Kind, reason.Code));
    }

    [Fact]
    public async Task DefaultMaxMessageSize_Is1MiB_OneByteMoreCloses1009()
    {
        await using var server = new WebSocketServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data.Span, f.Kind)));
        var bound = server.Start("127.0.0.1", 0);
        using var raw = await RawWs.Connect(bound);

        await raw.Send(RawWs.Frame(2, new byte[1024 * 1024]));
        Assert.Equal(1024 * 1024, (await raw.ReadFrame())?.Payload.Length);
        await raw.Send(RawWs.Frame(2, new byte[1024 * 1024 + 1]));
        Assert.Equal(1009, await raw.ReadCloseCode());
    }

    [Fact]
    public async Task Client_ReconnectsAfterTheServerCloses_AndItsFramesGoOnAcrossConnections()
    {
        await using var server = EchoServer(out var bound);
        // The first session echoes one message, then the server closes it.
        server.Sessions.Take(1).Subscribe(s => s.Frames.Take(1).Subscribe(_ => ((WebSocketSession)s).Close(4000, "go away")));
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { InitialDelay = TimeSpan.FromMilliseconds(50) } });
        var texts = client.Frames.Select(f => f.Text).Take(2).ToList().ToTask();
        var reconnected = client.Connections.Skip(1).First("the second connection");
        var disconnect = client.Disconnects.First("the server's close");

        await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        _ = client.Send("one");
        var reason = await disconnect;
        var second = await reconnected;
        _ = second.Send("two");

        Assert.Equal((CloseKind.RemoteClose, 4000), (reason.Kind, reason.Code));
        Assert.Equal(["one", "two"], await texts.WaitAsync(Wait.Long));
    }

    [Fact]
    public async Task StreamedMessage_GoesOutAsFragmentsOfOneMessage()
    {
        var data = Enumerable.Range(0, 300_000).Select(i => (byte)(i % 253)).ToArray();
        await using var server = new WebSocketServer(new WebSocketServerOptions { MaxSendQueueBytes = 128 * 1024 });
        server.Sessions.Subscribe(s => s.Frames.Subscribe(_ =>
            s.SendAsync(Observable.Range(0, 30).Select(i => (ReadOnlyMemory<byte>)data.AsMemory(i * 10_000, 10_000)))));
        var bound = server.Start("127.0.0.1", 0);
        using var ws = await RawWs.Connect(bound);

        await ws.Send(RawWs.Frame(1, "go"u8.ToArray()));
        var frames = new List<(int Opcode, byte[] Payload, bool Fin)>();
        do frames.Add(await ws.ReadFrame() ?? throw new EndOfStreamException("the message never ended"));
        while (!frames[^1].Fin);

        Assert.True(frames.Count > 1, "sent in fragments");
        Assert.Equal(2, frames[0].Opcode);                                   // a binary message...
        Assert.All(frames.Skip(1), f => Assert.Equal(0, f.Opcode));          // ...continued
        Assert.All(frames, f => Assert.True(f.Payload.Length <= 32 * 1024)); // piece by piece, never gathered whole
        Assert.Equal(data, frames.SelectMany(f => f.Payload).ToArray());
    }

    [Fact]
    public async Task UpgradeThatNeverFinishes_IsAnswered408AndClosed_NeverASession()
    {
        var options = new WebSocketServerOptions { Http = { Limits = { RequestHeadersTimeout = TimeSpan.FromMilliseconds(300) } } };
        await using var server = new WebSocketServer(options);
        int sessions = 0;
        server.Sessions.Subscribe(_ => Interlocked.Increment(ref sessions));
        var bound = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(bound);

        // Half an upgrade request, then silence.
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-"));

        // ReadExactly stops at the end of the stream: the server answered and closed the connection.
        var answer = Encoding.ASCII.GetString(await Wait.ReadExactly(socket, 64 * 1024));
        Assert.StartsWith("HTTP/1.1 408", answer);
        Assert.Equal(0, Volatile.Read(ref sessions));
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public async Task ServerThatNeverAnswersTheUpgrade_FailsTheClientsAttempt_WithHandshakeTimeout()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            var buffer = new byte[4096];
            try
            {
                while (await peer.ReceiveAsync(buffer) > 0) { } // takes the upgrade request, answers nothing, until the client goes
            }
            catch (SocketException) { } // the client aborts its attempt: a reset
        });
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, HandshakeTimeout = TimeSpan.FromMilliseconds(300) });

        var error = await Assert.ThrowsAsync<ConnectException>(() =>
            client.Connect($"ws://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}/").Timeout(Wait.Long).ToTask());

        Assert.Equal(CloseKind.HandshakeTimeout, error.Reason.Kind);
        await serve.WaitAsync(Wait.Long); // the client closed its connection
    }

    [PeerTheory("node", Npm = ["ws"])]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NodeWsClient_EchoPingFragmentsAndCloseCode(bool deflate)
    {
        var options = new WebSocketServerOptions { MaxMessageSize = 32 * 1024 * 1024, MaxSendQueueBytes = 64 * 1024 * 1024, Compression = deflate ? new() : null };
        await using var server = EchoServer(out var bound, options);
        var session = server.Sessions.First("node's session");
        using var node = new PeerProcess("node", PeerProcess.Script("ws-echo-client.js"), $"ws://127.0.0.1:{bound.Port}/", deflate ? "deflate" : "plain");
        var closed = (await session).Closed.First("node's close");

        Assert.Equal(deflate ? "extensions permessage-deflate" : "extensions ", (await node.ReadLine())[..(deflate ? 29 : 11)]);
        Assert.Equal("ok", await node.ReadLine());
        var reason = await closed;
        Assert.Equal((CloseKind.RemoteClose, 4003, "node done"), (reason.Kind, reason.Code, reason.Message));
        Assert.Equal("closed 4003 node done", await node.ReadLine());
    }

    [PeerFact("/usr/bin/python3")]
    public async Task PythonWebsocketsClient_Echoes()
    {
        await using var server = EchoServer(out var bound);
        var session = server.Sessions.First("python's session");
        using var python = new PeerProcess("/usr/bin/python3", PeerProcess.Script("ws_client.py"), $"ws://127.0.0.1:{bound.Port}/");
        var closed = (await session).Closed.First("python's close");
        Assert.Equal("ok", await python.ReadLine());
        var reason = await closed;
        Assert.Equal((4004, "python done"), (reason.Code, reason.Message));
    }

    [Fact]
    public async Task ThousandConcurrentSessions_EchoWithNothingLost()
    {
        await using var server = EchoServer(out var bound);
        const int clients = 1000, messages = 5;
        var all = new List<WebSocketClient>();
        try
        {
            var echoes = new List<Task<IList<Frame>>>();
            var connects = new List<Task>();
            var announced = server.Sessions.Take(clients).ToList().ToTask(); // announced after each 101, maybe after the client's Connect
            for (int i = 0; i < clients; i++)
            {
                var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, ConnectTimeout = TimeSpan.FromSeconds(30) });
                all.Add(client);
                echoes.Add(client.Frames.Take(messages).ToList().ToTask());
                connects.Add(client.Connect($"ws://127.0.0.1:{bound.Port}/").ToTask());
            }
            await Task.WhenAll(connects).WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(clients, (await announced.WaitAsync(TimeSpan.FromSeconds(120))).Count);
            for (int i = 0; i < clients; i++)
                for (int m = 0; m < messages; m++) _ = all[i].Send($"{i}:{m}");
            var got = await Task.WhenAll(echoes).WaitAsync(TimeSpan.FromSeconds(120));
            for (int i = 0; i < clients; i++)
                Assert.Equal(Enumerable.Range(0, messages).Select(m => $"{i}:{m}"), got[i].Select(f => f.Text));
        }
        finally
        {
            await Task.WhenAll(all.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task SlowReader_IsClosedByTheSendQueueBound_NotByMemory()
    {
        await using var server = new WebSocketServer(new WebSocketServerOptions { MaxSendQueueBytes = 256 * 1024 });
        var bound = server.Start("127.0.0.1", 0);
        var sessionTask = server.Sessions.First("the slow reader's session");
        using var raw = await RawWs.Connect(bound);  // connects, then never reads again
        var session = await sessionTask;
        var closed = session.Closed.First("the overflow close");
        var chunk = new byte[64 * 1024];
        for (int i = 0; i < 10_000 && session.IsOpen; i++) _ = session.Send(chunk);
        var reason = await closed;
        Assert.Equal(CloseKind.SendQueueOverflow, reason.Kind);
        Assert.Equal(1006, reason.Code);
        Assert.True(session.QueuedSendBytes <= 256 * 1024);
    }
}
