using System.Reactive;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Core;

/// <summary>Dispose starts the stop and returns; the stop still finishes (Sessions completes), wherever it was called.</summary>
public class LifetimeTests
{
    private static Task<Notification<Session>> Ended(SessionServer server) =>
        server.Sessions.Materialize().Where(n => n.Kind != NotificationKind.OnNext).First("Sessions to complete");

    [Fact]
    public async Task Dispose_FromAFrameHandler_ReturnsAtOnce_AndTheServerStops()
    {
        var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var ended = Ended(server);
        var returned = new ReplaySubject<bool>();
        server.Sessions.SelectMany(s => s.Frames).Subscribe(_ =>
        {
            server.Dispose();
            returned.OnNext(ended.IsCompleted);
        });
        var closed = server.Sessions.SelectMany(s => s.Closed).Replay();
        closed.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        using var peer = await Wait.ConnectRaw(endPoint);

        await peer.SendAsync(Encoding.ASCII.GetBytes("stop\n"));

        // Dispose returned without waiting for the stop, which cannot finish while this handler holds the session's
        // scheduler (the session's finish runs there).
        Assert.False(await returned.First("Dispose to return inside the handler"));
        Assert.Equal(NotificationKind.OnCompleted, (await ended).Kind);
        Assert.Equal(CloseKind.Stopped, (await closed.First("the session's close")).Kind);
        Assert.Empty(await Wait.ReadExactly(peer, 1)); // the peer sees the connection end
    }

    [Fact]
    public async Task Dispose_FromASessionsHandler_ReturnsAtOnce_AndTheServerStops()
    {
        var server = new TcpServer();
        var ended = Ended(server);
        var returned = new ReplaySubject<Unit>();
        server.Sessions.Subscribe(_ =>
        {
            server.Dispose();
            returned.OnNext(Unit.Default);
        });
        var endPoint = server.Start("127.0.0.1", 0);
        using var peer = await Wait.ConnectRaw(endPoint);

        await returned.First("Dispose to return inside the handler");
        Assert.Equal(NotificationKind.OnCompleted, (await ended).Kind);
        Assert.Empty(await Wait.ReadExactly(peer, 1));
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public async Task StopAsync_AwaitedInAFrameHandlerOnTheSessionsScheduler_Completes()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var stopped = new ReplaySubject<Unit>();
        server.Sessions.SelectMany(s => s.Frames).Subscribe(async _ =>
        {
            await server.StopAsync();
            stopped.OnNext(Unit.Default);
        });
        var endPoint = server.Start("127.0.0.1", 0);
        using var peer = await Wait.ConnectRaw(endPoint);

        await peer.SendAsync(Encoding.ASCII.GetBytes("stop\n"));

        await stopped.First("StopAsync awaited inside the handler to complete");
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public async Task Dispose_UnderATestScheduler_ReturnsAtOnce_AndTheStopFinishesWhenTimeRuns()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var server = new UdpServer(new UdpServerOptions { Schedulers = new SchedulerPool(scheduler) });
        var ended = Ended(server);
        var target = server.Start(network.Bind()).Serialize();
        var peer = network.Bind();
        peer.Start((_, _) => { });
        peer.Send("hello"u8, target);
        scheduler.AdvanceBy(1);
        var session = Assert.Single(server.GetSessions());

        server.Dispose(); // nothing of the stop can run until the test advances time: this must not wait for it
        Assert.False(ended.IsCompleted);
        scheduler.Start();

        Assert.Equal(NotificationKind.OnCompleted, (await ended).Kind);
        Assert.Equal(CloseKind.Stopped, session.CloseReason!.Kind);
    }

    [Fact]
    public async Task ClientDispose_ReturnsAtOnce_AndItsStreamsComplete()
    {
        await using var server = new TcpServer();
        var endPoint = server.Start("127.0.0.1", 0);
        var client = new TcpClient();
        var framesEnded = client.Frames.Materialize().Where(n => n.Kind != NotificationKind.OnNext).First("client frames to complete");
        await client.Connect("127.0.0.1", endPoint.Port).First("connected");

        client.Dispose();

        Assert.Equal(NotificationKind.OnCompleted, (await framesEnded).Kind);
    }
}
