using System.Net;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary><see cref="KcpSessionExtensions"/>: the statistics of a KCP session against what a <see cref="LossyLink"/>
/// did to its datagrams, in virtual time, through the same session stack production runs.</summary>
public sealed class KcpStatsTests
{
    private static readonly IPEndPoint ServerEndPoint = new(IPAddress.Loopback, 19005);
    private static readonly IPEndPoint ClientEndPoint = new(IPAddress.Loopback, 40005);

    [Fact]
    public void OverALossyLink_RetransmissionsMatchTheLossAndTheRttLiesInTheLinksDelayRange()
    {
        // Only client → server loses (10 %); both ways take 20..40 ms. Normal mode: no fast resend, and a timeout of at
        // least 100 ms, above the 80 ms worst round trip, so every retransmission answers one lost datagram.
        var scheduler = new TestScheduler();
        var delay = new LossyLinkOptions { MinDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(40), Seed = 5 };
        var lossy = new LossyLinkOptions { LossRate = 0.10, MinDelay = delay.MinDelay, MaxDelay = delay.MaxDelay, Seed = 6 };
        var link = new LossyLink(lossy, delay, scheduler);
        var server = new KcpServer(Raw(new KcpServerOptions { Schedulers = new SchedulerPool(scheduler), SilenceTimeout = null }));
        int received = 0;
        server.Sessions.Subscribe(s => s.Frames.Subscribe(_ => received++));
        server.Start(new LossyLinkChannel(link.B, ServerEndPoint, ClientEndPoint));
        var client = new KcpClient(Raw(new KcpClientOptions { Conv = 1, Schedulers = new SchedulerPool(scheduler), Reconnect = { Enabled = false } }))
        {
            ChannelFactory = (_, _) => new LossyLinkChannel(link.A, ClientEndPoint, ServerEndPoint),
        };
        Session? session = null;
        client.Connect(ServerEndPoint).Subscribe(s => session = s);
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.NotNull(session);
        var samples = new List<KcpStats>();
        bool samplingCompleted = false;
        session.SampleKcpStats(TimeSpan.FromMilliseconds(100)).Subscribe(samples.Add, () => samplingCompleted = true);

        const int messages = 400;
        for (int i = 0; i < messages; i++) session.Send(new byte[1000]); // one segment, one datagram each
        while ((received < messages || session.KcpStats().SegmentsInFlight > 0) && scheduler.Clock < TimeSpan.FromMinutes(10).Ticks)
            scheduler.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);

        var stats = session.KcpStats();
        Assert.Equal(messages, received);
        Assert.True(link.A.Dropped > 10, $"the link lost only {link.A.Dropped}");
        Assert.Equal(link.A.Sent, stats.SegmentsSent); // the client sent nothing but data, one segment a datagram
        Assert.Equal(messages + stats.TimeoutRetransmissions, stats.SegmentsSent);
        Assert.Equal(link.A.Dropped, stats.TimeoutRetransmissions); // one retransmission per datagram the link lost
        Assert.InRange(stats.TimeoutRetransmissions / (double)stats.SegmentsSent, 0.05, 0.15);
        Assert.Equal(0, stats.FastRetransmissions);
        Assert.InRange(stats.SmoothedRtt, TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(80));
        Assert.InRange(stats.RttVariance, TimeSpan.Zero, TimeSpan.FromMilliseconds(40));
        Assert.InRange(stats.RetransmitTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400));
        Assert.True(stats.RttSamples > messages / 2);
        Assert.Equal(0, stats.BytesInFlight);
        Assert.Equal(128, stats.RemoteWindow);
        Assert.Equal(32, stats.SendWindow);

        // The samples, taken on the session's scheduler, follow the transfer; they stop when the session closes.
        Assert.True(samples.Count >= 5);
        Assert.Contains(samples, s => s.BytesInFlight > 0 && s.SegmentsInFlight * 1000 == s.BytesInFlight);
        Assert.Equal(samples.Select(s => s.SegmentsSent).Order(), samples.Select(s => s.SegmentsSent));
        session.Abort();
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.True(samplingCompleted);
        Assert.Equal(stats.SegmentsSent, session.KcpStats().SegmentsSent); // still readable after close
    }

    [Fact]
    public void DatagramsASessionDrops_AreCountedOnItsStatsByReason()
    {
        var rig = new KcpRig(o => o.Handshake = KcpHandshakeMode.None, echo: false);
        var probe = rig.NewProbe();
        var push = Convert.FromHexString("07000000" + "51" + "00" + "8000" + "00000000" + "00000000" + "00000000" + "02000000" + "6869");
        probe.Exchange(Convert.ToHexString(push));
        var session = Assert.Single(rig.Sessions);

        var badCommand = (byte[])push.Clone();
        badCommand[4] = 99;
        probe.Exchange(Convert.ToHexString(badCommand));
        var truncated = (byte[])push.Clone();
        truncated[20] = 200;
        probe.Exchange(Convert.ToHexString(truncated));
        probe.Exchange(Convert.ToHexString(truncated));

        var drops = session.KcpStats().DroppedDatagrams;
        Assert.Equal(1, drops["kcp_bad_command"]);
        Assert.Equal(2, drops["kcp_truncated"]);
        Assert.Equal(3, rig.Server.DroppedDatagrams);
    }

    private static T Raw<T>(T options) where T : KcpOptions
    {
        options.Handshake = KcpHandshakeMode.None;
        options.Mode = KcpMode.Normal;
        return options;
    }
}
