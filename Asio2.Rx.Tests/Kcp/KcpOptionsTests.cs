using System.Buffers.Binary;

namespace Asio2.Rx.Tests.ReliableUdp;

public sealed class KcpOptionsTests
{
    private static Kcp Engine(KcpOptions options) => options.ResolveKcp().Create(1, static (_, _) => { }, new object());

    [Fact]
    public void Modes_ApplyTheirPresets()
    {
        using var asio2 = Engine(new KcpClientOptions());
        using var normal = Engine(new KcpClientOptions { Mode = KcpMode.Normal });
        using var fast = Engine(new KcpClientOptions { Mode = KcpMode.Fast });

        Assert.Equal((128, 512, 10, 30), (asio2.SendWindow, asio2.ReceiveWindow, asio2.Interval, asio2.MinRto));
        Assert.Equal((32, 128, 40, 100), (normal.SendWindow, normal.ReceiveWindow, normal.Interval, normal.MinRto));
        Assert.Equal((32, 128, 10, 30), (fast.SendWindow, fast.ReceiveWindow, fast.Interval, fast.MinRto));
        Assert.Equal(1400, asio2.Mtu);
        Assert.False(asio2.StreamMode);
    }

    [Fact]
    public void Overrides_ReplaceThePresetsValues_MinRtoAfterNoDelay()
    {
        using var kcp = Engine(new KcpServerOptions
        {
            Mode = KcpMode.Fast, SendWindow = 256, ReceiveWindow = 1024, Interval = TimeSpan.FromMilliseconds(20), NoDelay = 0,
            MinRto = TimeSpan.FromMilliseconds(200), Mtu = 576, DeadLinkTransmissions = 5, StreamMode = true,
        });

        Assert.Equal((256, 1024, 20, 200, 576, 552), (kcp.SendWindow, kcp.ReceiveWindow, kcp.Interval, kcp.MinRto, kcp.Mtu, kcp.Mss));
        Assert.Equal(5u, kcp.DeadLink);
        Assert.True(kcp.StreamMode);
    }

    [Fact]
    public void OutOfRangeValues_Throw()
    {
        var o = new KcpClientOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => o.Mtu = 49);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.Mtu = 65_508);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.Interval = TimeSpan.FromMilliseconds(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => o.NoDelay = 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.SendWindow = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.FastResend = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.DeadLinkTransmissions = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.ConnectTimeout = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KcpServerOptions().MaxSessions = 0);
    }

    [Fact]
    public void ServerDefaults_ReapIdleSessionsAfter60s_ClientConnectTimeoutIs30s()
    {
        Assert.Equal(TimeSpan.FromSeconds(60), new KcpServerOptions().SilenceTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), new KcpClientOptions().ConnectTimeout);
        Assert.Null(new KcpClientOptions().SilenceTimeout);
    }

    [Fact]
    public void Mtu_BoundsEveryDatagramTheSessionSends()
    {
        var rig = new KcpRig(o => o.Mtu = 200);
        var probe = rig.NewProbe();
        var syn = new byte[KcpHandshake.Size];
        KcpHandshake.WriteSyn(syn, 1);
        uint conv = BinaryPrimitives.ReadUInt32BigEndian(Convert.FromHexString(probe.Exchange(Convert.ToHexString(syn)).Single()));
        var session = rig.Sessions.Single();

        session.Send(new byte[1000]);
        rig.Settle();

        var datagrams = probe.Take().Select(Convert.FromHexString).ToList();
        Assert.Equal(6, datagrams.Count); // 1000 bytes in segments of 176
        Assert.All(datagrams, d => Assert.InRange(d.Length, 25, 200));
        Assert.All(datagrams, d => Assert.Equal(conv, BinaryPrimitives.ReadUInt32LittleEndian(d)));
    }
}
