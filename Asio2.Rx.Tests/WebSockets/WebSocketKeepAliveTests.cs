using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>Ping interval and pong timeout run on the session's scheduler: a TestScheduler moves them, to the tick.
/// The peer is raw bytes over an in-memory stream, so it can stay silent (half-open) or answer.</summary>
public class WebSocketKeepAliveTests
{
    private static readonly long Second = TimeSpan.TicksPerSecond;

    private sealed class Rig
    {
        public TestScheduler Scheduler { get; } = new();
        public ChannelStream Peer { get; }
        public ChannelStream Server { get; }
        public WebSocketSession Session { get; }
        public ITestableObserver<CloseReason> Closed { get; }

        public Rig()
        {
            var (server, peer) = ChannelStream.CreatePair();
            Peer = peer;
            Server = server;
            var options = new WebSocketOptions
            {
                PingInterval = TimeSpan.FromSeconds(10),
                PongTimeout = TimeSpan.FromSeconds(5),
                Schedulers = new SchedulerPool(Scheduler),
            };
            Session = WsRig.Session(server, isServer: true, options, Scheduler);
            Closed = Scheduler.CreateObserver<CloseReason>();
            Session.Closed.Subscribe(Closed);
            Session.Start();
        }

        /// <summary>What the session wrote so far (the peer's read completes at once when bytes are there).</summary>
        public byte[] Written()
        {
            var buffer = new byte[64];
            var read = Peer.ReadAsync(buffer);
            Assert.True(read.IsCompleted, "the session wrote nothing");
            return buffer[..read.Result];
        }

        public bool HasWritten()
        {
            var buffer = new byte[64];
            var read = Peer.ReadAsync(buffer);
            return read.IsCompleted;
        }

        /// <summary>Sends a masked pong from the client (RFC 6455 §5.5.3, empty payload) and waits until the session
        /// asked for more input, which it does only after it took the pong in.</summary>
        public async Task SendPong()
        {
            var taken = Server.NextReadStarted();
            Assert.True(Peer.WriteAsync(new byte[] { 0x8A, 0x80, 1, 2, 3, 4 }).IsCompleted);
            await taken.WaitAsync(Wait.Long);
        }
    }

    [Fact]
    public void QuietSession_PingsAfterTheInterval()
    {
        var rig = new Rig();
        rig.Scheduler.AdvanceTo(10 * Second - 1);
        var early = new byte[64];
        Assert.False(rig.Peer.ReadAsync(early).IsCompleted);

        rig.Scheduler.AdvanceTo(10 * Second);
        // The read that was waiting got the ping: unmasked (server side), FIN + opcode 9, empty.
        Assert.Equal(new byte[] { 0x89, 0x00 }, early[..2]);
    }

    [Fact]
    public void HalfOpenPeer_ClosesWithKeepAliveTimeout_PongTimeoutAfterThePing()
    {
        var rig = new Rig();
        rig.Scheduler.AdvanceTo(10 * Second);
        Assert.Equal(new byte[] { 0x89, 0x00 }, rig.Written());

        rig.Scheduler.AdvanceTo(15 * Second - 1);
        Assert.Empty(rig.Closed.Messages);
        rig.Scheduler.AdvanceTo(15 * Second + 10);

        var reason = rig.Closed.Messages[0].Value.Value;
        Assert.Equal(CloseKind.KeepAliveTimeout, reason.Kind);
        Assert.Equal(1006, reason.Code);
        Assert.Single(rig.Closed.Messages.Where(m => m.Value.Kind == System.Reactive.NotificationKind.OnNext));
    }

    [Fact]
    public async Task PongWithinTheTimeout_KeepsTheSessionOpen_AndTheNextPingComesAnIntervalAfterIt()
    {
        var rig = new Rig();
        rig.Scheduler.AdvanceTo(10 * Second);
        rig.Written();
        rig.Scheduler.AdvanceTo(12 * Second);
        await rig.SendPong();

        var next = new byte[64];
        var read = rig.Peer.ReadAsync(next);
        rig.Scheduler.AdvanceTo(22 * Second - 1);
        Assert.Empty(rig.Closed.Messages);
        Assert.False(read.IsCompleted);
        rig.Scheduler.AdvanceTo(22 * Second);
        Assert.True(rig.Session.IsOpen);
        Assert.True(read.IsCompleted);
        Assert.Equal(new byte[] { 0x89, 0x00 }, next[..2]);
    }

    [Fact]
    public async Task BusyPeer_IsNeverPinged()
    {
        var rig = new Rig();
        for (int s = 5; s <= 60; s += 5)
        {
            rig.Scheduler.AdvanceTo(s * Second);
            await rig.SendPong(); // any input counts as life
        }
        Assert.False(rig.HasWritten());
        Assert.True(rig.Session.IsOpen);
    }
}
