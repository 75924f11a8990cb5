using System.Buffers.Binary;
using System.Net;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary><see cref="KcpHandshakeMode.Cookie"/>: the stateless cookie round in front of asio2's SYN-ACK, in virtual time.</summary>
public sealed class KcpCookieHandshakeTests
{
    private const uint Seq = 0x01020304;

    private static KcpRig CookieRig() => new(o => o.Handshake = KcpHandshakeMode.Cookie);

    private static byte[] Syn(uint seq = Seq)
    {
        var syn = new byte[KcpHandshake.Size];
        KcpHandshake.WriteSyn(syn, seq);
        return syn;
    }

    private static byte[] Echo(uint cookie, uint seq = Seq)
    {
        var echo = new byte[KcpHandshake.Size];
        KcpCookie.WriteEcho(echo, seq, cookie);
        return echo;
    }

    /// <summary>Sends a SYN and returns the cookie of the server's one reply (asserting it is no larger than the SYN).</summary>
    private static uint GetCookie(KcpRig.Probe probe, uint seq = Seq)
    {
        var syn = Syn(seq);
        var reply = Convert.FromHexString(Assert.Single(probe.Exchange(Convert.ToHexString(syn))));
        Assert.True(reply.Length <= syn.Length, "the server's first reply is larger than the client's first datagram");
        Assert.True(KcpCookie.IsCookieFor(reply, seq, out uint cookie));
        return cookie;
    }

    [Fact]
    public void SynsFromSourcesThatCannotReceive_CreateNoServerState()
    {
        var rig = CookieRig();
        // A thousand spoofed sources: each SYN gets a cookie the spoofer never sees, and blind guesses fail.
        var probes = Enumerable.Range(0, 1000).Select(_ => rig.NewProbe()).ToList();
        foreach (var p in probes) p.Send(Syn());
        rig.Settle();
        foreach (var p in probes) Assert.Single(p.Take());
        foreach (var p in probes.Take(100)) p.Send(Echo(cookie: 0xDEADBEEF));
        rig.Settle();

        Assert.Empty(rig.Sessions);
        Assert.Equal(0, rig.Server.SessionCount);
        Assert.Null(rig.Server.FindSession(probes[0].EndPoint));
        Assert.Equal(100, rig.Server.DroppedDatagrams); // the guesses; the SYNs were answered, not remembered
    }

    [Fact]
    public void EchoOfTheCookie_OpensTheSession_WithAsio2sSynAck()
    {
        var rig = CookieRig();
        var probe = rig.NewProbe();
        uint cookie = GetCookie(probe);

        var reply = Convert.FromHexString(Assert.Single(probe.Exchange(Convert.ToHexString(Echo(cookie)))));

        Assert.True(KcpHandshake.IsSynAckFor(reply, Seq));
        Assert.Single(rig.Sessions);
        // A lost SYN-ACK: the repeated ECHO gets it again, and no second session.
        Assert.Equal(reply, Convert.FromHexString(Assert.Single(probe.Exchange(Convert.ToHexString(Echo(cookie))))));
        Assert.Single(rig.Sessions);
    }

    [Fact]
    public void CookieReplayedFromAnotherEndpoint_IsRefused()
    {
        var rig = CookieRig();
        var owner = rig.NewProbe();
        var thief = rig.NewProbe();
        uint cookie = GetCookie(owner);

        Assert.Empty(thief.Exchange(Convert.ToHexString(Echo(cookie))));

        Assert.Empty(rig.Sessions);
        Assert.Equal(1, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public void CookieFromAnExpiredSlot_IsRefused_AFreshOneWorks()
    {
        var rig = CookieRig();
        var probe = rig.NewProbe();
        uint stale = GetCookie(probe);

        rig.AdvanceToMs(21_000); // two slots later
        Assert.Empty(probe.Exchange(Convert.ToHexString(Echo(stale))));
        Assert.Empty(rig.Sessions);

        uint fresh = GetCookie(probe);
        Assert.True(KcpHandshake.IsSynAckFor(Convert.FromHexString(Assert.Single(probe.Exchange(Convert.ToHexString(Echo(fresh))))), Seq));
        Assert.Single(rig.Sessions);
    }

    [Fact]
    public void KcpClient_WithTheCookieHandshake_ConnectsAndExchangesMessages()
    {
        var scheduler = new TestScheduler();
        var link = new LossyLink(new LossyLinkOptions { MinDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(5) }, scheduler);
        var serverEndPoint = new IPEndPoint(IPAddress.Loopback, 19007);
        var clientEndPoint = new IPEndPoint(IPAddress.Loopback, 40007);
        var server = new KcpServer(new KcpServerOptions { Handshake = KcpHandshakeMode.Cookie, Schedulers = new SchedulerPool(scheduler) });
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        server.Start(new LossyLinkChannel(link.B, serverEndPoint, clientEndPoint));
        var client = new KcpClient(new KcpClientOptions { Handshake = KcpHandshakeMode.Cookie, Schedulers = new SchedulerPool(scheduler) })
        {
            ChannelFactory = (_, _) => new LossyLinkChannel(link.A, clientEndPoint, serverEndPoint),
        };
        var echoes = new List<string>();
        client.Frames.Subscribe(f => echoes.Add(f.Text));
        Session? session = null;
        client.Connect(serverEndPoint).Subscribe(s => session = s);

        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        Assert.NotNull(session);
        session.Send("through the cookie");
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);

        Assert.Equal(["through the cookie"], echoes);
        Assert.Equal(1, server.SessionCount);
    }
}
