using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Secure;

/// <summary>The handshake timeout runs on the session's scheduler: a TestScheduler moves it, to the tick.</summary>
public class TlsVirtualTimeTests
{
    private static TlsTransport TransportOf(Session session) => (TlsTransport)((StreamSession)session).TransportLayer;

    /// <summary>A TLS server whose sessions live on a TestScheduler, and the one session it accepts.</summary>
    private sealed class VirtualServer : IAsyncDisposable
    {
        private readonly TaskCompletionSource<Session> _session = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public VirtualServer(TimeSpan handshakeTimeout)
        {
            var tls = TlsKit.ServerOptions();
            tls.HandshakeTimeout = handshakeTimeout;
            Server = new TcpServer(new TcpServerOptions { Tls = tls, Schedulers = new SchedulerPool(Scheduler) });
            Server.Sessions.Subscribe(s => _session.TrySetResult(s));
            EndPoint = Server.Start("127.0.0.1", 0);
        }

        public IoTestScheduler Scheduler { get; } = new();
        public TcpServer Server { get; }
        public System.Net.IPEndPoint EndPoint { get; }

        /// <summary>The accepted session, once announced.</summary>
        public Task<Session> Session => _session.Task.WaitAsync(Wait.Long);

        /// <summary>Stopping waits for sessions to finish, which happens on the scheduler: finish them here first.</summary>
        public async ValueTask DisposeAsync()
        {
            if (_session.Task.IsCompleted) _session.Task.Result.Abort();
            Scheduler.AdvanceBy(1);
            await Server.StopAsync().WaitAsync(Wait.Long);
        }
    }

    [Fact]
    public async Task StalledHandshake_TimesOutAtExactlyTheTimeout_InVirtualTime()
    {
        await using var server = new VirtualServer(TimeSpan.FromSeconds(10));
        var scheduler = server.Scheduler;
        long timeout = TimeSpan.FromSeconds(10).Ticks;
        var armed = scheduler.WhenQueued(timeout);
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        // The start of a ClientHello, and then nothing: a client that stopped mid-handshake.
        await socket.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 });
        var session = await server.Session;
        await armed.WaitAsync(Wait.Long); // the accept thread armed the handshake timer: the clock may move now
        Assert.True(TransportOf(session).IsHandshakeTimerArmed);
        var closed = scheduler.CreateObserver<CloseKind>();
        session.Closed.Select(r => r.Kind).Subscribe(closed);

        scheduler.AdvanceTo(timeout - 1);
        Assert.True(session.IsOpen);
        scheduler.AdvanceTo(timeout);

        Assert.False(session.IsOpen);
        Assert.Equal(CloseKind.HandshakeTimeout, session.CloseReason!.Kind);
        Assert.Equal(TlsHandshakeError.Timeout, session.CloseReason.TlsError());
        Assert.Contains("10000 ms", session.CloseReason.Message);
        scheduler.AdvanceBy(1); // the close is delivered on the scheduler one tick later
        closed.Messages.AssertEqual(ReactiveTest.OnNext(timeout + 1, CloseKind.HandshakeTimeout), ReactiveTest.OnCompleted<CloseKind>(timeout + 1));
    }

    [Fact]
    public async Task FinishedHandshake_CancelsItsTimeout_InVirtualTime()
    {
        await using var server = new VirtualServer(TimeSpan.FromSeconds(10));
        var scheduler = server.Scheduler;
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }).WaitAsync(Wait.Long);
        var session = await server.Session;
        await TransportOf(session).HandshakeCompleted.WaitAsync(Wait.Long);
        var handshakes = scheduler.CreateObserver<string?>();
        session.TlsHandshake().Select(h => h.HostName).Subscribe(handshakes);

        scheduler.AdvanceBy(1);
        handshakes.Messages.AssertEqual(ReactiveTest.OnNext(1, (string?)"localhost"), ReactiveTest.OnCompleted<string?>(1));
        scheduler.AdvanceBy(TimeSpan.FromSeconds(60).Ticks);
        Assert.True(session.IsOpen);
        Assert.Null(session.CloseReason);
    }
}
