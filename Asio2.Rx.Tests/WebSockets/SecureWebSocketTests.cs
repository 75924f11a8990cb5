using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary><c>wss://</c> end to end with a certificate issued at run time: node's <c>ws</c> as a client of our
/// <see cref="WebSocketServer"/> and of <see cref="WebSocketHttpExtensions.MapWebSocket"/> on an HTTPS
/// <see cref="HttpServer"/> (trusting only the test root), and our <see cref="WebSocketClient"/> against node's
/// <c>ws</c> behind an https server. (Chromium over <c>wss://</c>: <see cref="ChromiumWebSocketTests"/>.)</summary>
public class SecureWebSocketTests
{
    private static readonly string s_rootFile = TlsKit.Pki.Write("ws-root.pem", TlsKit.Pki.RootPem);

    /// <summary>An echo server on 127.0.0.1 over TLS: a standalone <see cref="WebSocketServer"/>, or the "/echo" route of
    /// an HTTPS <see cref="HttpServer"/>.</summary>
    private static (IAsyncDisposable Server, IObservable<Session> Sessions, IPEndPoint Bound) SecureEchoServer(bool mapped, bool deflate = false)
    {
        var options = new WebSocketServerOptions { MaxMessageSize = 32 * 1024 * 1024, MaxSendQueueBytes = 64 * 1024 * 1024, Compression = deflate ? new() : null };
        IAsyncDisposable server;
        IObservable<Session> sessions;
        IPEndPoint bound;
        if (mapped)
        {
            var http = new HttpServer(new HttpServerOptions { Tls = TlsKit.ServerOptions() });
            sessions = http.MapWebSocket("/echo", options).Sessions;
            bound = http.Start("127.0.0.1", 0);
            server = http;
        }
        else
        {
            options.Http = new HttpServerOptions { Tls = TlsKit.ServerOptions() };
            var ws = new WebSocketServer(options);
            sessions = ws.Sessions;
            bound = ws.Start("127.0.0.1", 0);
            server = ws;
        }
        sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data.Span, f.Kind)));
        return (server, sessions, bound);
    }

    /// <summary>node's ws echo server behind an https server presenting the test chain (leaf + intermediate).</summary>
    private static async Task<(PeerProcess Node, int Port)> StartSecureNodeServer()
    {
        string cert = TlsKit.Pki.Write("ws-node-chain.pem", TlsKit.Pki.Server.CertificatePem + TlsKit.Pki.Intermediate.CertificatePem);
        string key = TlsKit.Pki.Write("ws-node-key.pem", TlsKit.Pki.Server.KeyPem);
        var node = new PeerProcess("node", PeerProcess.Script("ws-echo-server.js"), "plain", cert, key);
        return (node, int.Parse(await node.ReadLine()));
    }

    [PeerTheory("node", Npm = ["ws"])]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task NodeWsClientOverWss_EchoesEverything_AndCloses(bool mapped, bool deflate)
    {
        var (server, sessions, bound) = SecureEchoServer(mapped, deflate);
        await using var _ = server;
        var session = sessions.First("node's session");
        string url = $"wss://127.0.0.1:{bound.Port}/{(mapped ? "echo" : "")}";
        using var node = new PeerProcess("node", PeerProcess.Script("ws-echo-client.js"), url, deflate ? "deflate" : "plain", s_rootFile);
        var closed = (await session).Closed.First("node's close");

        Assert.StartsWith(deflate ? "extensions permessage-deflate" : "extensions ", await node.ReadLine());
        Assert.Equal("ok", await node.ReadLine()); // text, binary, 0 B, 16 MiB, fragments and a ping, all over TLS
        var reason = await closed;
        Assert.Equal((CloseKind.RemoteClose, 4003, "node done"), (reason.Kind, reason.Code, reason.Message));
        Assert.Equal("closed 4003 node done", await node.ReadLine());
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task NodeWsClientOverWss_RefusesTheServer_WhenItDoesNotTrustTheRoot()
    {
        var (server, sessions, bound) = SecureEchoServer(mapped: false);
        await using var _ = server;
        var otherRoot = TlsKit.Pki.Write("ws-other-root.pem", TlsKit.Pki.OtherRoot.CertificatePem);
        using var node = new PeerProcess("node", PeerProcess.Script("ws-echo-client.js"), $"wss://127.0.0.1:{bound.Port}/", "plain", otherRoot);

        Assert.StartsWith("fail", await node.ReadLine()); // its first line; a connection that opened prints "extensions ..."
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task OurClientOverWss_EchoesThroughNodeWs_AndClosesWithItsCode()
    {
        var (node, port) = await StartSecureNodeServer();
        using var peer = node;
        await using var client = new WebSocketClient(new WebSocketClientOptions
        {
            Reconnect = { Enabled = false },
            MaxMessageSize = 32 * 1024 * 1024,
            MaxSendQueueBytes = 64 * 1024 * 1024,
            Tls = TlsKit.ClientOptions(), // trusts the test root only; expects "localhost"
        });
        var echoes = client.Frames.Take(3).ToList().ToTask();
        var session = (WebSocketSession)await client.Connect($"wss://127.0.0.1:{port}/").Timeout(Wait.Long);
        Assert.EndsWith("tls yes", await node.ReadLineStartingWith("extensions"));

        var big = new byte[4 * 1024 * 1024];
        Random.Shared.NextBytes(big);
        _ = session.Send("héllo over tls");
        _ = session.Send(new byte[] { 0, 255 });
        _ = session.Send(big);
        var got = await echoes.WaitAsync(Wait.Long);
        Assert.Equal((FrameKind.Text, "héllo over tls"), (got[0].Kind, got[0].Text));
        Assert.Equal(FrameKind.Binary, got[1].Kind);
        Assert.Equal(new byte[] { 0, 255 }, got[1].Data.ToArray());
        Assert.True(big.AsSpan().SequenceEqual(got[2].Span), "the 4 MiB message came back unchanged");

        session.Close(4005, "tls bye");
        Assert.Equal("closed 4005 tls bye", await node.ReadLineStartingWith("closed"));
        var own = await session.Closed.First("our close");
        Assert.Equal((CloseKind.LocalClose, 4005), (own.Kind, own.Code));
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task OurClientOverWss_FailsTheHandshake_WhenItDoesNotTrustTheServer()
    {
        var (node, port) = await StartSecureNodeServer();
        using var peer = node;
        await using var client = new WebSocketClient(new WebSocketClientOptions
        {
            Reconnect = { Enabled = false },
            Tls = new TlsClientOptions { TrustedCaPem = TlsKit.Pki.OtherRoot.CertificatePem, TargetHost = "localhost" },
        });

        var error = await Assert.ThrowsAsync<ConnectException>(() => client.Connect($"wss://127.0.0.1:{port}/").Timeout(Wait.Long).ToTask());
        Assert.Equal(CloseKind.HandshakeFailed, error.Reason.Kind);
    }
}
