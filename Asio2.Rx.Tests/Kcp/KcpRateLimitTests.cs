using System.Net;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

public sealed class KcpRateLimitTests
{
    private static readonly IPEndPoint ServerEndPoint = new(IPAddress.Loopback, 19003);
    private static readonly IPEndPoint ClientEndPoint = new(IPAddress.Loopback, 40001);

    [Fact]
    public void ReadRateLimit_HoldsMessagesInKcp_AndDeliversThemAtTheBudget()
    {
        var scheduler = new TestScheduler();
        var link = new LossyLink(new LossyLinkOptions { MinDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(1) }, scheduler);
        var server = new KcpServer(new KcpServerOptions
        {
            Schedulers = new SchedulerPool(scheduler),
            SilenceTimeout = null,
            ReadRateLimit = new RateLimit(10_000, burst: 1_000),
        });
        long delivered = 0;
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => delivered += f.Length));
        server.Start(new LossyLinkChannel(link.B, ServerEndPoint, ClientEndPoint));
        var client = new KcpClient(new KcpClientOptions { Schedulers = new SchedulerPool(scheduler), Reconnect = { Enabled = false } })
        {
            ChannelFactory = (_, _) => new LossyLinkChannel(link.A, ClientEndPoint, ServerEndPoint),
        };
        Session? session = null;
        client.Connect(ServerEndPoint).Subscribe(s => session = s);
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        Assert.NotNull(session);

        for (int i = 0; i < 50; i++) session!.Send(new byte[1000]);
        long start = scheduler.Clock;
        var samples = new List<(double Seconds, long Bytes)>();
        for (int step = 1; step <= 80; step++)
        {
            scheduler.AdvanceTo(start + step * TimeSpan.FromMilliseconds(100).Ticks);
            samples.Add((step / 10.0, delivered));
        }

        // Never ahead of burst + rate x time (+ one message of debt; datagram headers also spend budget).
        Assert.All(samples, s => Assert.True(s.Bytes <= 1_000 + 10_000 * s.Seconds + 1_000, $"{s.Bytes} bytes by {s.Seconds} s"));
        Assert.True(samples[9].Bytes < 50_000, "50 kB cannot arrive within 1 s at 10 kB/s");
        Assert.Equal(50_000, delivered); // nothing dropped: all of it arrives, just later
    }
}
