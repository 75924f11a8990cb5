using System.Buffers.Binary;
using System.Text;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>A raw-conv <see cref="KcpServer"/> (no handshake) against hand-made datagrams in virtual time.</summary>
public sealed class KcpRawConvServerTests
{
    private static KcpRig RawRig(Action<KcpServerOptions>? configure = null, bool echo = true) => new(o =>
    {
        o.Handshake = KcpHandshakeMode.None;
        configure?.Invoke(o);
    }, echo);

    /// <summary>One KCP segment: conv, cmd, frg 0, wnd 128, ts 0, sn, una 0, len, data.</summary>
    private static byte[] Segment(uint conv, byte cmd, uint sn, string text, int? declaredLength = null)
    {
        var data = Encoding.ASCII.GetBytes(text);
        var segment = new byte[24 + data.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(segment, conv);
        segment[4] = cmd;
        BinaryPrimitives.WriteUInt16LittleEndian(segment.AsSpan(6), 128);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(12), sn);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(20), (uint)(declaredLength ?? data.Length));
        data.CopyTo(segment, 24);
        return segment;
    }

    private static byte[] Push(uint conv, uint sn, string text) => Segment(conv, Kcp.CmdPush, sn, text);

    /// <summary>(conv, payload) of the PUSH segments in <paramref name="replies"/>.</summary>
    private static List<(uint Conv, string Text)> Pushed(IEnumerable<string> replies)
    {
        var pushes = new List<(uint, string)>();
        foreach (var hex in replies)
        {
            var d = Convert.FromHexString(hex).AsSpan();
            while (d.Length >= 24)
            {
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(d[20..]);
                if (d[4] == Kcp.CmdPush) pushes.Add((BinaryPrimitives.ReadUInt32LittleEndian(d), Encoding.ASCII.GetString(d.Slice(24, len))));
                d = d[(24 + len)..];
            }
        }
        return pushes;
    }

    [Fact]
    public void FirstWellFormedSegment_OpensASessionWithItsConv_AndIsItsFirstFrame()
    {
        var rig = RawRig();
        var probe = rig.NewProbe();

        var replies = probe.Exchange(Convert.ToHexString(Push(0xC0FFEE, 0, "hello")));

        var session = Assert.IsType<KcpSession>(Assert.Single(rig.Sessions));
        Assert.Equal(0xC0FFEEu, session.Conv);
        Assert.Equal(probe.EndPoint, session.RemoteEndPoint);
        Assert.Equal([(0xC0FFEEu, "hello")], Pushed(replies)); // echoed: the segment was the session's first input
        Assert.Equal([(0xC0FFEEu, "again")], Pushed(probe.Exchange(Convert.ToHexString(Push(0xC0FFEE, 1, "again")))));
        Assert.Same(session, rig.Server.FindSession(probe.EndPoint, 0xC0FFEE));
        Assert.Equal(0, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void Garbage_IsDroppedAndCounted_AndOpensNothing()
    {
        var rig = RawRig();
        var probe = rig.NewProbe();
        string[] garbage =
        [
            "0102030405",                                                // shorter than a segment header
            "00000000000000000800f7ff",                                  // 12 bytes: asio2's SYN means nothing here
            Convert.ToHexString(Segment(5, 0, 0, "x")),                  // unknown command
            Convert.ToHexString(Segment(5, Kcp.CmdPush, 0, "x", 900)),   // length beyond the datagram
            Convert.ToHexString([.. Push(5, 0, "a"), .. Push(6, 1, "b")]), // two convs in one datagram
        ];

        foreach (var hex in garbage) Assert.Empty(probe.Exchange(hex));

        Assert.Empty(rig.Sessions);
        Assert.Equal(garbage.Length, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void UnknownConv_WithAnAllowList_IsDroppedAndCounted_AnAllowedOneIsServed()
    {
        var rig = RawRig(o => o.AllowedConvs = [1, 2]);
        var probe = rig.NewProbe();

        Assert.Empty(probe.Exchange(Convert.ToHexString(Push(3, 0, "no"))));
        Assert.Equal(1, rig.Server.DroppedDatagrams);
        Assert.Empty(rig.Sessions);

        Assert.Equal([(2u, "yes")], Pushed(probe.Exchange(Convert.ToHexString(Push(2, 0, "yes")))));
        Assert.Single(rig.Sessions);
    }

    [Fact]
    public void TenThousandSpoofedConvsFromOneEndpoint_AreDroppedAndCounted_OneConvPerEndpoint()
    {
        var rig = RawRig();
        var probe = rig.NewProbe();

        for (uint conv = 1; conv <= 10_000; conv++) probe.Send(Push(conv, 0, "spoof"));
        rig.Settle();

        var session = Assert.IsType<KcpSession>(Assert.Single(rig.Sessions));
        Assert.Equal(1u, session.Conv); // the first conv holds the endpoint's one slot
        Assert.Equal(9_999, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void TenThousandSpoofedConvsFromManyEndpoints_SessionsBoundedByMaxSessions_TheRestDroppedAndCounted()
    {
        var rig = RawRig(o => o.MaxSessions = 16);
        var probes = Enumerable.Range(0, 100).Select(_ => rig.NewProbe()).ToList();

        for (uint conv = 0; conv < 10_000; conv++) probes[(int)(conv % 100)].Send(Push(conv, 0, "spoof"));
        rig.Settle();

        Assert.Equal(16, rig.Sessions.Count);
        Assert.Equal(16, rig.Server.SessionCount);
        Assert.Equal(10_000 - 16, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void TenThousandSpoofedConvs_WithAnAllowList_AllButTheAllowedOneAreDropped()
    {
        var rig = RawRig(o => o.AllowedConvs = [4242]);
        var probes = Enumerable.Range(0, 10).Select(_ => rig.NewProbe()).ToList();

        for (uint conv = 0; conv < 10_000; conv++) probes[(int)(conv % 10)].Send(Push(conv, 0, "spoof"));
        rig.Settle();

        var session = Assert.IsType<KcpSession>(Assert.Single(rig.Sessions));
        Assert.Equal(4242u, session.Conv);
        Assert.Equal(9_999, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void SilentSession_EndsAtTheSilenceTimeout_WithoutAnyCloseDatagram()
    {
        var rig = RawRig(o => o.SilenceTimeout = TimeSpan.FromSeconds(5), echo: false);
        var probe = rig.NewProbe();
        Assert.NotEmpty(probe.Exchange(Convert.ToHexString(Push(9, 0, "hi")))); // the acknowledgement

        rig.AdvanceToMs(6_000);

        var (_, reason) = Assert.Single(rig.Closes);
        Assert.Equal(CloseKind.SilenceTimeout, reason.Kind);
        Assert.Empty(probe.Take()); // raw conv has no FIN
        // The endpoint and conv are free again: the same peer may start over.
        Assert.NotEmpty(probe.Exchange(Convert.ToHexString(Push(9, 0, "back"))));
        Assert.Equal(2, rig.Sessions.Count);
        Assert.Equal(0, rig.Server.DroppedDatagrams);
    }
}
