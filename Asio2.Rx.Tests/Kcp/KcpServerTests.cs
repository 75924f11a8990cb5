using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Text;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>The drop-reason test listens on the process-wide meter: it runs alone, so other KCP tests' drops do not mix in.</summary>
[CollectionDefinition(nameof(KcpDropMeter), DisableParallelization = true)]
public sealed class KcpDropMeter;

/// <summary><see cref="KcpServer"/> against hand-made datagrams in virtual time: garbage, spoofed FINs, limits, idle reaping.</summary>
[Collection(nameof(KcpDropMeter))]
public sealed class KcpServerTests
{
    private const string Fin = "00000000000000000400fffb";

    /// <summary>A valid SYN from a probe; returns the conv of the SYN-ACK.</summary>
    private static uint Handshake(KcpRig.Probe probe, uint seq = 0x11223344)
    {
        var syn = new byte[KcpHandshake.Size];
        KcpHandshake.WriteSyn(syn, seq);
        var reply = Assert.Single(probe.Exchange(Convert.ToHexString(syn)));
        var synAck = Convert.FromHexString(reply);
        Assert.True(KcpHandshake.IsSynAckFor(synAck, seq));
        return BinaryPrimitives.ReadUInt32BigEndian(synAck);
    }

    /// <summary>One KCP segment as hex: conv, cmd, frg, wnd, ts, sn, una, len, data.</summary>
    private static string Segment(uint conv, byte cmd, uint sn, uint una, string text, int? declaredLength = null)
    {
        var data = Encoding.ASCII.GetBytes(text);
        var segment = new byte[24 + data.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(segment, conv);
        segment[4] = cmd;
        BinaryPrimitives.WriteUInt16LittleEndian(segment.AsSpan(6), 128);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(12), sn);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(16), una);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(20), (uint)(declaredLength ?? data.Length));
        data.CopyTo(segment, 24);
        return Convert.ToHexString(segment);
    }

    private static string Push(uint conv, uint sn, string text) => Segment(conv, 81, sn, 0, text);

    /// <summary>The payloads of the PUSH segments in <paramref name="replies"/>.</summary>
    private static List<string> Pushed(IEnumerable<string> replies)
    {
        var texts = new List<string>();
        foreach (var hex in replies)
        {
            var d = Convert.FromHexString(hex).AsSpan();
            while (d.Length >= 24)
            {
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(d[20..]);
                if (d[4] == 81) texts.Add(Encoding.ASCII.GetString(d.Slice(24, len)));
                d = d[(24 + len)..];
            }
        }
        return texts;
    }

    [Fact]
    public void GarbageOnAnEstablishedSession_IsDroppedAndCountedByReason_TheSessionGoesOn()
    {
        var reasons = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Asio2.Rx" && instrument.Name == "asio2rx.dropped") l.EnableMeasurementEvents(instrument);
        };
        var rig = new KcpRig();
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? transport = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "asio2rx.transport") transport = tag.Value as string;
                if (tag.Key == "asio2rx.drop.reason") reason = tag.Value as string;
            }
            if (transport == "kcp" && reason is not null) lock (reasons) reasons.Add(reason);
        });
        listener.Start();
        var probe = rig.NewProbe();
        uint conv = Handshake(probe);
        Assert.Equal(["one"], Pushed(probe.Exchange(Push(conv, 0, "one"))));

        var garbage = new (string Hex, string Reason)[]
        {
            (Push(conv + 1000, 1, "wrong conv"), "kcp_wrong_conv"),
            (Segment(conv, 81, 1, 0, "short", declaredLength: 100), "kcp_truncated"),
            (Segment(conv, 99, 1, 0, "bad command"), "kcp_bad_command"),
            ("11223344000000000800c3e9", "kcp_bad_checksum"),                  // a SYN whose checksum is wrong
            ("000102030405060708090a0b", "kcp_bad_checksum"),                  // 12 bytes of junk
            ("00000005010203054800f3b3", "kcp_unexpected_handshake"),          // a valid SYN-ACK, sent to the server
            ("", "kcp_illegal_length"),
            ("00", "kcp_illegal_length"),
            ("0102030800000000080000f5".Substring(0, 22), "kcp_illegal_length"), // 11 bytes
            ("01020309000000000800f4f300", "kcp_illegal_length"),             // 13 bytes
            (Push(conv, 1, "x")[..46], "kcp_illegal_length"),                  // 23 bytes
        };
        for (int i = 0; i < garbage.Length; i++)
        {
            Assert.Empty(probe.Exchange(garbage[i].Hex));
            Assert.Equal(i + 1, rig.Server.DroppedDatagrams);
        }

        Assert.Equal(["two"], Pushed(probe.Exchange(Push(conv, 1, "two"))));
        Assert.True(rig.Sessions.Single().IsOpen);
        listener.RecordObservableInstruments();
        lock (reasons) Assert.Equal(garbage.Select(g => g.Reason), reasons);
    }

    [Fact]
    public void FinOrSegmentsFromAnotherEndpoint_CannotTouchTheSession()
    {
        var rig = new KcpRig();
        var owner = rig.NewProbe();
        var intruder = rig.NewProbe();
        uint conv = Handshake(owner);

        Assert.Empty(intruder.Exchange(Fin));                    // a FIN from a stranger: a non-SYN first datagram
        Assert.Empty(intruder.Exchange(Push(conv, 0, "spoof"))); // the session's conv, from the wrong endpoint
        Assert.Equal(2, rig.Server.DroppedDatagrams);

        Assert.Equal(["mine"], Pushed(owner.Exchange(Push(conv, 0, "mine"))));
        Assert.True(rig.Sessions.Single().IsOpen);
        Assert.Empty(rig.Closes);

        Assert.Empty(owner.Exchange(Fin)); // the owner's FIN closes it, silently
        Assert.Equal(CloseKind.RemoteClose, rig.Closes.Single().Reason.Kind);
    }

    [Fact]
    public void RepeatedSyn_GetsTheSameSynAck_AndRestartsKcp()
    {
        var rig = new KcpRig();
        var probe = rig.NewProbe();
        uint conv = Handshake(probe, seq: 77);
        Assert.Equal(["a"], Pushed(probe.Exchange(Push(conv, 0, "a"))));
        Assert.Equal(["b"], Pushed(probe.Exchange(Push(conv, 1, "b"))));

        Assert.Equal(conv, Handshake(probe, seq: 77));

        // Both ends start over at sn 0: the server takes sn 0 as new, and its own next PUSH is sn 0.
        var replies = probe.Exchange(Push(conv, 0, "again"));
        Assert.Equal(["again"], Pushed(replies));
        var push = Convert.FromHexString(replies.Single()).AsSpan(24);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(push[12..]));
        Assert.Single(rig.Sessions);
    }

    [Fact]
    public void MaxSessions_FurtherHandshakesGetNoReplyAndAreCounted_UntilASlotFrees()
    {
        var rig = new KcpRig(o => o.MaxSessions = 2);
        var probes = Enumerable.Range(0, 3).Select(_ => rig.NewProbe()).ToList();
        Handshake(probes[0]);
        Handshake(probes[1]);
        var syn = new byte[KcpHandshake.Size];
        KcpHandshake.WriteSyn(syn, 5);

        Assert.Empty(probes[2].Exchange(Convert.ToHexString(syn)));
        Assert.Equal(1, rig.Server.DroppedDatagrams);

        probes[0].Exchange(Fin);
        rig.Settle();
        Assert.Single(probes[2].Exchange(Convert.ToHexString(syn)));
        Assert.Equal(2, rig.Server.SessionCount);
    }

    [Fact]
    public void IdleSession_IsReapedAtTheSilenceTimeout_AndThePeerGetsAFin()
    {
        var rig = new KcpRig(o => o.SilenceTimeout = TimeSpan.FromSeconds(60));
        var probe = rig.NewProbe();
        uint conv = Handshake(probe);
        rig.AdvanceToMs(30_000);
        Assert.Equal(["ping"], Pushed(probe.Exchange(Push(conv, 0, "ping"))));
        // The probe never acknowledges the echo: the server resends it, which is not activity from the peer.
        rig.AdvanceToMs(89_000);
        probe.Take();
        Assert.Empty(rig.Closes);

        rig.AdvanceToMs(91_000);

        Assert.Equal(CloseKind.SilenceTimeout, rig.Closes.Single().Reason.Kind);
        Assert.Equal(Fin, probe.Take().Last());
        Assert.Equal(0, rig.Server.SessionCount);
    }

    [Fact]
    public void Send_LargerThan127Segments_IsRejectedAsTooLarge_TheLargestMessageIsAccepted()
    {
        var rig = new KcpRig(echo: false);
        Handshake(rig.NewProbe());
        var session = rig.Sessions.Single();

        var tooLarge = session.Send(new byte[127 * 1376 + 1]);
        var largest = session.Send(new byte[127 * 1376]);

        Assert.True(tooLarge.IsRejected);
        Assert.Equal(SendRejection.TooLarge, Assert.IsType<SendRejectedException>(tooLarge.AsTask().Exception!.InnerException).Rejection);
        Assert.False(largest.IsRejected);
    }

    [Fact]
    public void PeerThatNeverAcknowledges_KcpHoldsAtMostItsBound_TheRestWaitsInTheSendQueue()
    {
        var rig = new KcpRig(echo: false);
        var probe = rig.NewProbe();
        Handshake(probe);
        var session = rig.Sessions.Single();
        var kcp = ((KcpSession)session).Engine;
        int bound = ((KcpSession)session).MaxUnacknowledgedSegments;

        for (int i = 0; i < 60; i++) session.Send(new byte[60 * 1024]); // 60 × 45 segments
        for (int step = 0; step < 50; step++)
        {
            rig.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
            Assert.InRange(kcp.WaitSnd, 1, bound + 45); // one message may straddle the bound
        }

        Assert.True(session.QueuedSendBytes > 0, "the send queue holds what KCP may not take yet");
        Assert.True(session.IsOpen);
    }
}
