using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Datagrams;

/// <summary>
/// A client's UDP session is announced (to <c>Connections</c> subscribers, who may send at once) before it starts, and
/// a reply can come in between. Its channel starts receiving only when the session starts, so such a reply waits in the
/// socket's buffer. Over the in-memory datagram network (whose channels buffer until started, as sockets do), in
/// virtual time.
/// </summary>
public class UdpSessionStartTests
{
    [Fact]
    public void DatagramsThatReachAClientBeforeItsSessionStarts_AreDeliveredWhenItStarts_BeforeLaterOnes()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var channel = network.Bind();
        var peer = network.Bind();
        var settings = new UdpClientOptions { Schedulers = new SchedulerPool(scheduler) }.Resolve("udp");
        var drops = new DropCounter("udp", settings.Metrics);
        var session = new UdpSession(channel, peer.LocalEndPoint.Serialize(), peer.LocalEndPoint, ownsChannel: true, maxDatagramSize: 1000,
            drops, settings, scheduler);
        var frames = new List<string>();
        session.Frames.Subscribe(f => frames.Add(f.Text));

        peer.Send("early 1"u8, channel.LocalEndPoint.Serialize());
        peer.Send("early 2"u8, channel.LocalEndPoint.Serialize());
        scheduler.AdvanceBy(10); // they reach the channel: the session has not started
        Assert.Empty(frames);

        session.Start();
        peer.Send("late"u8, channel.LocalEndPoint.Serialize());
        scheduler.AdvanceBy(10);

        Assert.Equal(["early 1", "early 2", "late"], frames);
        Assert.Equal(0, drops.Count);
        Assert.Equal(7 + 7 + 4, session.BytesReceived);
    }
}
