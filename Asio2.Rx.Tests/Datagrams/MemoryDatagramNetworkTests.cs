using System.Net;
using System.Net.Sockets;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Datagrams;

public class MemoryDatagramNetworkTests
{
    [Fact]
    public void Datagrams_ArriveThroughTheScheduler_WithTheSendersAddress()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var a = network.Bind();
        var b = network.Bind();
        var got = new List<(string, IPEndPoint)>();
        b.Start((d, from) => got.Add((System.Text.Encoding.ASCII.GetString(d), DatagramChannel.ToEndPoint(from))));

        a.Send("hi"u8, b.LocalEndPoint.Serialize());
        Assert.Empty(got); // never inside Send
        scheduler.AdvanceBy(1);

        Assert.Equal([("hi", a.LocalEndPoint)], got);
        Assert.Throws<SocketException>(() => network.Bind(b.LocalEndPoint)); // the address is taken
    }

    [Fact]
    public void Impairment_DelaysAndLosesLikeALossyLink_AndUnboundTargetsAreCounted()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler, new LossyLinkOptions
        {
            LossRate = 0.5, MinDelay = TimeSpan.FromMilliseconds(30), MaxDelay = TimeSpan.FromMilliseconds(30), Seed = 3,
        });
        var a = network.Bind();
        var b = network.Bind();
        var times = new List<long>();
        b.Start((_, _) => times.Add(scheduler.Clock));

        for (int i = 0; i < 1000; i++) a.Send("x"u8, b.LocalEndPoint.Serialize());
        a.Send("x"u8, new IPEndPoint(IPAddress.Loopback, 1).Serialize());
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(31).Ticks);

        Assert.InRange(times.Count, 400, 600);
        Assert.All(times, t => Assert.Equal(TimeSpan.FromMilliseconds(30).Ticks, t));
        Assert.InRange(network.Undeliverable, 0, 1);
    }
}
