using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.Core;

/// <summary>Hand-over: a session detaches into its raw connection mid-stream, and a new session carries on over it.</summary>
public class HandOverTests
{
    /// <summary>Bytes after the upgrade line: lines the old framing would have cut, and binary with newlines in it.</summary>
    private static readonly byte[] After = [.. "raw\nbytes\n"u8, .. Enumerable.Range(0, 3000).Select(i => (byte)(i * 31))];

    private static readonly byte[] Later = Enumerable.Range(0, 5000).Select(i => (byte)(i * 17 + 1)).ToArray();

    /// <summary>A line-framed server whose sessions detach on the line "UPGRADE"; records the lines each delivered.</summary>
    private sealed class UpgradingServer : IAsyncDisposable
    {
        private readonly TaskCompletionSource<DetachedConnection> _detached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<Session> _session = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public UpgradingServer(TlsServerOptions? tls = null, bool holdPerLine = false)
        {
            Server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Tls = tls });
            Server.Sessions.Subscribe(s =>
            {
                _session.TrySetResult(s);
                void Handle(Frame f)
                {
                    lock (Lines) Lines.Add(f.Text);
                    if (f.Text != "UPGRADE") return;
                    f.Session.Send("OK\n"); // queued before the detach: written before the hand-over completes
                    f.Session.DetachAsync().ContinueWith(t =>
                    {
                        if (t.IsCompletedSuccessfully) _detached.TrySetResult(t.Result);
                        else _detached.TrySetException(t.Exception!.InnerExceptions);
                    }, TaskScheduler.Default);
                }
                // holdPerLine: each line is handled in an asynchronous step that holds reading, so "UPGRADE" is
                // delivered from the held-back rest of the read when the step for "hello" has finished, and its
                // step detaches from inside that delivery.
                if (holdPerLine) s.Frames.SelectAsync(async (f, _) => { Handle(f); await Task.Yield(); return 0; }).Subscribe();
                else s.Frames.Subscribe(Handle);
            });
            EndPoint = Server.Start("127.0.0.1", 0);
        }

        public TcpServer Server { get; }
        public System.Net.IPEndPoint EndPoint { get; }
        public List<string> Lines { get; } = [];
        public Task<DetachedConnection> Detached => _detached.Task.WaitAsync(Wait.Long);
        public Task<Session> Session => _session.Task.WaitAsync(Wait.Long);
        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }

    /// <summary>Runs a raw-framed session over the detached connection and checks it reads exactly what followed the
    /// upgrade line and what the peer sends later, and writes through the same connection.</summary>
    private static async Task CarryOn(UpgradingServer server, DetachedConnection connection, string transport,
        Func<byte[], Task> peerWrite, Func<int, Task<byte[]>> peerRead)
    {
        Assert.Equal(["hello", "UPGRADE"], server.Lines);
        var old = await server.Session;
        Assert.Equal(CloseKind.Upgraded, (await old.Closed.First("the old session's close")).Kind);
        Assert.Equal("OK\n", Encoding.ASCII.GetString(await peerRead(3)));
        // Buffered holds the bytes read after the line, in order (the rest, if the read was split, is in the stream).
        Assert.InRange(connection.Buffered.Length, 1, After.Length);
        Assert.Equal(After[..connection.Buffered.Length], connection.Buffered.ToArray());
        Assert.Same(old.Scheduler, connection.Scheduler);

        var fresh = StreamSession.Attach(connection, new SessionOptions().Resolve(transport));
        int total = After.Length + Later.Length;
        var received = fresh.Frames.SelectMany(f => f.Data.ToArray()).Take(total).ToArray().ToTask();
        fresh.Start();
        await peerWrite(Later);
        var all = await received.WaitAsync(Wait.Long);
        Assert.Equal(After.Concat(Later).ToArray(), all);

        await fresh.Send("pong"u8.ToArray());
        Assert.Equal("pong", Encoding.ASCII.GetString(await peerRead(4)));
        fresh.Close();
    }

    [Fact]
    public async Task Tcp_UpgradeLineFollowedByRawBytesInOnePacket_NewSessionGetsExactlyTheBytesAfterTheLine()
    {
        await using var server = new UpgradingServer();
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync((byte[])[.. "hello\nUPGRADE\n"u8, .. After]);

        var connection = await server.Detached;
        Assert.IsType<NetworkStream>(connection.Stream);
        Assert.Null(connection.Tls);
        await CarryOn(server, connection, "tcp",
            async bytes => await socket.SendAsync(bytes),
            count => Wait.ReadExactly(socket, count));
    }

    [Fact]
    public async Task Tcp_UpgradeDeliveredAfterAHoldWasReleased_BufferedStartsAfterTheLine()
    {
        await using var server = new UpgradingServer(holdPerLine: true);
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync((byte[])[.. "hello\nUPGRADE\n"u8, .. After]);

        var connection = await server.Detached;
        await CarryOn(server, connection, "tcp",
            async bytes => await socket.SendAsync(bytes),
            count => Wait.ReadExactly(socket, count));
    }

    [Fact]
    public async Task Tls_UpgradeLineFollowedByRawBytesInOneRecord_DetachesIntoTheSslStream()
    {
        await using var server = new UpgradingServer(TlsKit.ServerOptions());
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }).WaitAsync(Wait.Long);
        await ssl.WriteAsync((byte[])[.. "hello\nUPGRADE\n"u8, .. After]);

        var connection = await server.Detached;
        Assert.IsType<SslStream>(connection.Stream);
        Assert.NotNull(connection.Tls);
        await CarryOn(server, connection, "tls",
            async bytes => await ssl.WriteAsync(bytes),
            async count =>
            {
                var buffer = new byte[count];
                await ssl.ReadExactlyAsync(buffer).AsTask().WaitAsync(Wait.Long);
                return buffer;
            });
    }

    [Fact]
    public async Task DetachAsync_OnADatagramSession_IsNotSupported()
    {
        await using var server = new UdpServer();
        var session = server.Sessions.First("the session");
        var endPoint = server.Start("127.0.0.1", 0);
        using var client = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await client.SendToAsync("hi"u8.ToArray(), endPoint);
        var udp = await session;
        Assert.Throws<NotSupportedException>(() => { _ = udp.DetachAsync(); });
    }

    [Fact]
    public async Task SessionFactory_BuildsEveryAcceptedSession()
    {
        // A protocol layer's own session type; here: the same stream session with a framing of its choosing.
        await using var server = new TcpServer(new TcpServerOptions())
        {
            SessionFactory = (transport, settings, scheduler) =>
                new StreamSession(transport, settings with { Framing = Framing.Delimiter('\n') }, scheduler),
        };
        var first = server.Sessions.SelectMany(s => s.Frames).First("the first line");
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        await socket.SendAsync("line one\nline two\n"u8.ToArray());
        Assert.Equal("line one", (await first).Text);
    }
}
