using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Tcp;

public class TcpClientTests
{
    private static readonly IPEndPoint Nowhere = new(IPAddress.Loopback, 9);

    /// <summary>A connector whose attempts never finish: only the connect timeout can end them.</summary>
    private static (List<long> Attempts, Func<EndPoint, CancellationToken, ValueTask<Transport>> Connector) Hanging(TestScheduler scheduler)
    {
        var attempts = new List<long>();
        return (attempts, (_, ct) =>
        {
            attempts.Add(scheduler.Clock);
            var never = new TaskCompletionSource<Transport>();
            ct.Register(() => never.TrySetCanceled(ct));
            return new ValueTask<Transport>(never.Task);
        });
    }

    [Fact]
    public void ConnectTimeout_FiresAtExactlyTheTimeout()
    {
        var scheduler = new TestScheduler();
        var (attempts, connector) = Hanging(scheduler);
        using var client = new TcpClient(new TcpClientOptions
        {
            Schedulers = new SchedulerPool(scheduler),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            Reconnect = { Enabled = false },
        });
        client.Connector = connector;
        var failures = scheduler.CreateObserver<CloseKind>();
        client.Disconnects.Select(r => r.Kind).Subscribe(failures);
        Exception? error = null;
        client.Connect(Nowhere).Subscribe(_ => { }, e => error = e);

        scheduler.AdvanceBy(1); // Rx's TestScheduler runs work scheduled "now" one tick later: the attempt starts at tick 1
        long started = Assert.Single(attempts);
        long timeout = TimeSpan.FromSeconds(5).Ticks;
        scheduler.AdvanceTo(started + timeout - 1);
        Assert.Empty(failures.Messages);
        scheduler.AdvanceTo(started + timeout);

        failures.Messages.AssertEqual(ReactiveTest.OnNext(started + timeout, CloseKind.ConnectTimeout));
        Assert.Equal(CloseKind.ConnectTimeout, Assert.IsType<ConnectException>(error).Reason.Kind);
        Assert.Single(attempts);
    }

    [Fact]
    public void Reconnect_BacksOffExponentiallyUpToTheCap()
    {
        var scheduler = new TestScheduler();
        var (attempts, connector) = Hanging(scheduler);
        using var client = new TcpClient(new TcpClientOptions
        {
            Schedulers = new SchedulerPool(scheduler),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            Reconnect = { InitialDelay = TimeSpan.FromSeconds(1), Multiplier = 2, MaxDelay = TimeSpan.FromSeconds(8) },
        });
        client.Connector = connector;
        client.Connect(Nowhere).Subscribe(_ => { }, _ => { });

        scheduler.AdvanceTo(TimeSpan.FromSeconds(70).Ticks);

        // attempt at t, timeout at t+5, retry after 1, 2, 4, 8, 8 s (relative to the first attempt, which
        // Rx's TestScheduler starts one tick after "now").
        long[] expected = [0, 6, 13, 22, 35, 48, 61];
        Assert.Equal(expected.Select(s => attempts[0] + TimeSpan.FromSeconds(s).Ticks), attempts);
    }

    /// <summary>A transport whose handshake always fails, like a server with an untrusted certificate.</summary>
    private sealed class FailingHandshake : Transport
    {
        public override string Name => "tls";
        public override ValueTask StartAsync(Session session, CancellationToken cancellationToken) =>
            ValueTask.FromException(new System.Security.Authentication.AuthenticationException("untrusted certificate"));
        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => new(0);
        public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => default;
        public override void Shutdown() { }
        public override void Abort() { }
        public override void Dispose() { }
    }

    [Fact]
    public void Reconnect_AfterHandshakeFailures_BacksOffLikeFailedConnects()
    {
        var scheduler = new TestScheduler();
        var attempts = new List<long>();
        using var client = new TcpClient(new TcpClientOptions
        {
            Schedulers = new SchedulerPool(scheduler),
            Reconnect = { InitialDelay = TimeSpan.FromSeconds(1), Multiplier = 2, MaxDelay = TimeSpan.FromSeconds(8) },
        });
        client.Connector = (_, _) =>
        {
            attempts.Add(scheduler.Clock);
            return new ValueTask<Transport>(new FailingHandshake());
        };
        var reasons = new List<CloseKind>();
        client.Disconnects.Subscribe(r => reasons.Add(r.Kind));
        client.Connect(Nowhere).Subscribe(_ => { }, _ => { });

        scheduler.AdvanceTo(TimeSpan.FromSeconds(40).Ticks);

        // Each attempt connects, starts its session and fails the handshake two scheduler hops later; then the
        // back-off grows as for failed connects: 1, 2, 4, 8, 8 s.
        var gaps = attempts.Zip(attempts.Skip(1), (a, b) => b - a - 2).Take(5);
        Assert.Equal(new[] { 1, 2, 4, 8, 8 }.Select(s => TimeSpan.FromSeconds(s).Ticks), gaps);
        Assert.All(reasons, k => Assert.Equal(CloseKind.HandshakeFailed, k));
    }

    [Fact]
    public void Reconnect_MaxAttempts_GivesUpWithConnectException()
    {
        var scheduler = new TestScheduler();
        var (attempts, connector) = Hanging(scheduler);
        using var client = new TcpClient(new TcpClientOptions
        {
            Schedulers = new SchedulerPool(scheduler),
            ConnectTimeout = TimeSpan.FromSeconds(1),
            Reconnect = { InitialDelay = TimeSpan.FromSeconds(1), MaxAttempts = 3 },
        });
        client.Connector = connector;
        Exception? error = null;
        client.Connect(Nowhere).Subscribe(_ => { }, e => error = e);
        scheduler.AdvanceTo(TimeSpan.FromMinutes(5).Ticks);
        Assert.Equal(3, attempts.Count);
        Assert.IsType<ConnectException>(error);
    }

    [Fact]
    public async Task RefusedConnection_ReportsConnectFailed()
    {
        // Bind a port and close it again: nothing listens there now.
        var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var client = new TcpClient(new TcpClientOptions { Reconnect = { Enabled = false } });
        var error = await Assert.ThrowsAsync<ConnectException>(() => client.Connect("127.0.0.1", port).First("connect"));
        Assert.Equal(CloseKind.ConnectFailed, error.Reason.Kind);
    }

    [Fact]
    public async Task FramesSurviveReconnects_AndConnectionsAreAStream()
    {
        var options = new TcpServerOptions { Framing = Framing.Delimiter('\n') };
        await using var server = new TcpServer(options);
        // The server greets each connection with its number, then the first one is dropped by the server.
        int n = 0;
        server.Sessions.Subscribe(s =>
        {
            int id = Interlocked.Increment(ref n);
            s.Send($"hello {id}\n");
            if (id == 1) s.Close();
        });
        var endPoint = server.Start("127.0.0.1", 0);

        using var client = new TcpClient(new TcpClientOptions
        {
            Framing = Framing.Delimiter('\n'),
            Reconnect = { InitialDelay = TimeSpan.FromMilliseconds(10) },
        });
        var greetings = client.Frames.Select(f => f.Text).Take(2).ToList().ToTask();
        var connections = client.Connections.Take(2).ToList().ToTask();
        await client.Connect(endPoint).First("connection");

        Assert.Equal(["hello 1", "hello 2"], await greetings.WaitAsync(Wait.Long));
        var sessions = await connections.WaitAsync(Wait.Long);
        Assert.NotSame(sessions[0], sessions[1]);
    }

    [Fact]
    public async Task Send_WhenNotConnected_IsRejectedAsNotConnected()
    {
        using var client = new TcpClient();
        var result = client.Send("x");
        Assert.True(result.IsRejected);
        var error = await Assert.ThrowsAsync<SendRejectedException>(() => result.AsTask());
        Assert.Equal(SendRejection.NotConnected, error.Rejection);
    }

    [Fact]
    public async Task Dispose_CompletesStreams_AndDoesNotReconnect()
    {
        await using var server = new TcpServer();
        int accepted = 0;
        server.Sessions.Subscribe(_ => Interlocked.Increment(ref accepted));
        var endPoint = server.Start("127.0.0.1", 0);
        var client = new TcpClient(new TcpClientOptions { Reconnect = { InitialDelay = TimeSpan.FromMilliseconds(1) } });
        var framesDone = client.Frames.LastOrDefaultAsync().ToTask();
        var disconnects = client.Disconnects.ToList().ToTask();
        await client.Connect(endPoint).First("connection");
        await client.DisconnectAsync().WaitAsync(Wait.Long);
        await framesDone.WaitAsync(Wait.Long);
        var reasons = await disconnects.WaitAsync(Wait.Long);
        Assert.Equal([CloseKind.LocalClose], reasons.Select(r => r.Kind));
        Assert.Equal(1, accepted);
    }
}
