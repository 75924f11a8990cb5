using System.Net;
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
    public async Task ServerStop_Sends1001_ToEverySession()
    {
        var server = EchoServer(out var bound);
        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        var session = await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        var closed = session.Closed.First("the client's close");
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
        int sessions = 0;
        endpoint.Sessions.Subscribe(_ => sessions++);
        var bound = http.Start("127.0.0.1", 0);

        await using var refused = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        var error = await Assert.ThrowsAsync<ConnectException>(() => refused.Connect($"ws://127.0.0.1:{bound.Port}/ws").Timeout(Wait.Long).ToTask());
        Assert.Equal(CloseKind.HandshakeFailed, error.Reason.Kind);
        Assert.Contains("401", error.Reason.Message);
        Assert.Equal(0, sessions);

        await using var allowed = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, Headers = { new("Authorization", "Bearer good") } });
        await allowed.Connect($"ws://127.0.0.1:{bound.Port}/ws").Timeout(Wait.Long);
        Assert.Equal(1, endpoint.SessionCount);
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
            for (int i = 0; i < clients; i++)
            {
                var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, ConnectTimeout = TimeSpan.FromSeconds(30) });
                all.Add(client);
                echoes.Add(client.Frames.Take(messages).ToList().ToTask());
                connects.Add(client.Connect($"ws://127.0.0.1:{bound.Port}/").ToTask());
            }
            await Task.WhenAll(connects).WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(clients, server.SessionCount);
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
