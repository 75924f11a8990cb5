using System.Net;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Datagrams;

/// <summary>
/// A client's UDP channel receives from the moment it connects, and its session is announced (to <c>Connections</c>
/// subscribers, who may send at once) before it starts: a reply can come in between. Over the in-memory datagram
/// network, in virtual time, with the receive loop's own entry point (<c>OnDatagram</c>).
/// </summary>
public class UdpSessionStartTests
{
    private static (UdpSession Session, DropCounter Drops, List<string> Frames, TestScheduler Scheduler) NewSession(bool client)
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var channel = network.Bind();
        var peer = network.Bind().LocalEndPoint;
        var settings = new UdpClientOptions { Schedulers = new SchedulerPool(scheduler) }.Resolve("udp");
        var drops = new DropCounter("udp", settings.Metrics);
        var session = new UdpSession(channel, peer.Serialize(), peer, ownsChannel: client, maxDatagramSize: 1000, drops, settings, scheduler);
        var frames = new List<string>();
        session.Frames.Subscribe(f => frames.Add(f.Text));
        return (session, drops, frames, scheduler);
    }

    [Fact]
    public void AClientsDatagramsBeforeStart_AreDeliveredAtStart_BeforeLaterOnes()
    {
        var (session, drops, frames, scheduler) = NewSession(client: true);

        session.OnDatagram("early 1"u8);
        session.OnDatagram("early 2"u8);
        scheduler.AdvanceBy(10);
        Assert.Empty(frames); // not started: nothing is delivered yet

        session.Start();
        session.OnDatagram("late"u8);
        scheduler.AdvanceBy(10);

        Assert.Equal(["early 1", "early 2", "late"], frames);
        Assert.Equal(0, drops.Count);
        Assert.Equal(7 + 7 + 4, session.BytesReceived);
    }

    [Fact]
    public void AClientKeepsNoMoreThanMaxPendingReceiveBytesBeforeStart_AndAServersSessionKeepsNone()
    {
        var (client, clientDrops, clientFrames, clientScheduler) = NewSession(client: true);
        var big = new byte[600];
        client.OnDatagram(big);
        client.OnDatagram(big); // 1 200 bytes: within the 1 MiB default
        for (int i = 0; i < 2000; i++) client.OnDatagram(big); // past it: dropped and counted
        client.Start();
        clientScheduler.AdvanceBy(10);
        Assert.Equal(1024 * 1024 / 600, clientFrames.Count);
        Assert.Equal(2002 - 1024 * 1024 / 600, clientDrops.Count);

        var (server, serverDrops, serverFrames, serverScheduler) = NewSession(client: false);
        server.OnDatagram("before"u8);
        server.Start();
        serverScheduler.AdvanceBy(10);
        Assert.Empty(serverFrames);
        Assert.Equal(1, serverDrops.Count);
    }
}
