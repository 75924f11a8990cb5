using System.Text.Json;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// <see cref="KcpServer"/> against asio2's captured traffic (<c>shared/asio2/vectors/kcp_handshake.json</c>): the captured
/// client datagrams are replayed into the server, in virtual time with the server's KCP clock set to the captured
/// timestamps, and every reply must equal asio2's byte for byte.
/// </summary>
public sealed class KcpServerVectorTests
{
    private static JsonElement Capture => SharedFolder.Asio2KcpCapture;

    private static string Hex(JsonElement e, params string[] path)
    {
        foreach (var p in path) e = e.GetProperty(p);
        return e.GetString()!;
    }

    private static List<string> Replies(JsonElement step) => step.GetProperty("replies").EnumerateArray().Select(r => r.GetString()!).ToList();

    [Fact]
    public void CapturedSyns_GetTheCapturedSynAcks_ConvFromTheCounterOrTheRequest()
    {
        var rig = new KcpRig();
        var vectors = Capture.GetProperty("handshake_vectors");

        // In capture order: a server-assigned conv (1), a requested one (12345, the counter untouched), the next (2).
        foreach (var name in new[] { "auto_conv", "requested_conv_12345", "auto_conv_second_client" })
        {
            var replies = rig.NewProbe().Exchange(Hex(vectors, name, "syn", "hex"));
            Assert.Equal([Hex(vectors, name, "synack", "hex")], replies);
        }
        Assert.Equal(3, rig.Server.SessionCount);
        Assert.Equal(0, rig.Server.DroppedDatagrams);
    }

    [Fact]
    public async Task Stop_SendsTheCapturedFinToEverySession()
    {
        var rig = new KcpRig();
        var probes = Enumerable.Range(0, 3).Select(_ => rig.NewProbe()).ToList();
        foreach (var p in probes) Assert.Single(p.Exchange(Hex(Capture, "handshake_vectors", "auto_conv", "syn", "hex")));

        var stop = rig.Server.StopAsync();
        rig.Settle();

        var fin = Hex(Capture.GetProperty("handshake_vectors").GetProperty("server_fin_on_stop")[0], "hex");
        foreach (var p in probes) Assert.Equal([fin], p.Take());
        await stop.WaitAsync(Wait.Long);
        Assert.All(rig.Closes, c => Assert.Equal(CloseKind.Stopped, c.Reason.Kind));
        Assert.Equal(3, rig.Closes.Count);
    }

    /// <summary>
    /// asio2's own client against asio2's server (trace A1): "hello", then a 5000-byte message whose first fragment was
    /// lost and resent. The server's clock read 882615 ms throughout; the replies to each datagram the server received
    /// are deterministic and must match: the SYN-ACK, ACK+PUSH "hello" in one datagram, lone ACKs while a fragment is
    /// missing, and once it arrives the ACK followed by the 5000-byte echo in four segments.
    /// </summary>
    [Fact]
    public void CapturedAsio2ClientSession_ReplayedIntoTheServer_GetsTheCapturedReplies()
    {
        var rig = new KcpRig();
        var trace = Capture.GetProperty("full_trace_A1_kcp_client_vs_server").EnumerateArray()
            .Select(e => (Src: e.GetProperty("src").GetString()!, Hex: Whole(e))).ToList();
        string client = trace[0].Src;
        string Datagram(int index) => trace[index].Hex;
        List<string> ServerReplies(params int[] indexes) => indexes.Select(Datagram).ToList();
        Assert.All(new[] { 1, 7, 8, 10, 12, 13, 14, 15, 16, 17 }, i => Assert.NotEqual(client, trace[i].Src));

        rig.AdvanceToMs(882_615);
        var probe = rig.NewProbe();
        Assert.Equal(ServerReplies(1), probe.Exchange(Datagram(0)));            // SYN -> SYN-ACK conv 1
        Assert.Equal(ServerReplies(7), probe.Exchange(Datagram(2)));            // PUSH "hello" -> ACK sn0 + PUSH echo, one datagram
        // The first fragment of the 5000-byte message (trace[3]) was lost on the way; the server got sn 2, 3, 4.
        Assert.Equal(ServerReplies(8), probe.Exchange(Datagram(4)));            // -> ACK sn2, una 1
        Assert.Empty(probe.Exchange(Datagram(9)));                              // the client's ACK of "hello"
        Assert.Equal(ServerReplies(10), probe.Exchange(Datagram(5)));           // -> ACK sn3
        Assert.Equal(ServerReplies(12), probe.Exchange(Datagram(6)));           // -> ACK sn4
        // The client resends sn 1: the message is complete, echoed at once behind the ACK (ACK alone: 24 + 1400 > MTU).
        Assert.Equal(ServerReplies(13, 14, 15, 16, 17), probe.Exchange(Datagram(11)));
        Assert.Equal(2, rig.Sessions.Single().FramesReceived); // "hello" and the 5000-byte message
    }

    /// <summary>
    /// A traced datagram in full. The capture shortens datagrams of 1400 bytes to their first 64 hex digits and "...";
    /// those are single fragments of the 5000-byte message "ABC…XYZABC…", so the rest is rebuilt from the decoded header
    /// (frg 3..0 is fragment 0..3 of 1376 bytes) and checked against the captured prefix and length.
    /// </summary>
    private static string Whole(JsonElement entry)
    {
        string hex = entry.GetProperty("hex").GetString()!;
        if (!hex.EndsWith("...", StringComparison.Ordinal)) return hex;
        var segment = entry.GetProperty("decoded").GetProperty("segments").EnumerateArray().Single();
        int frg = segment.GetProperty("frg").GetInt32(), len = segment.GetProperty("len").GetInt32();
        var message = Enumerable.Range(0, 5000).Select(i => (byte)('A' + i % 26)).ToArray();
        string whole = hex[..48] + Convert.ToHexString(message, (3 - frg) * 1376, len).ToLowerInvariant();
        Assert.StartsWith(hex[..^3], whole);
        Assert.Equal(entry.GetProperty("len").GetInt32() * 2, whole.Length);
        return whole;
    }

    /// <summary>
    /// Python probe against asio2 (scenario A4): an established session survives a wrong conv, a bad-checksum SYN and
    /// 12 bytes of junk; a repeated SYN gets the same SYN-ACK and restarts KCP (the next PUSH is sn 0 again); a FIN ends
    /// the session silently and a later non-SYN datagram from that endpoint is rejected. The server's PUSH timestamps
    /// (884580, 886980, 888180) are its clock at each step.
    /// </summary>
    [Fact]
    public void CapturedProbeOfAnEstablishedSession_GetsTheCapturedReactions()
    {
        var rig = new KcpRig();
        var vectors = Capture.GetProperty("handshake_vectors");
        // asio2 had served A1 (conv 1), A2 (requested 12345) and A3 (conv 2) before: the probe gets conv 3.
        foreach (var name in new[] { "auto_conv", "requested_conv_12345", "auto_conv_second_client" })
            rig.NewProbe().Exchange(Hex(vectors, name, "syn", "hex"));

        var probe = rig.NewProbe();
        var steps = Capture.GetProperty("server_behaviour").GetProperty("non_syn_first_datagram").GetProperty("steps").EnumerateArray()
            .Concat(Capture.GetProperty("server_behaviour").GetProperty("established_session").GetProperty("steps").EnumerateArray())
            .ToList();
        long[] clockAt = [0, 884_000, 884_580, 885_000, 885_100, 885_200, 886_980, 887_500, 888_180, 888_500, 888_600];
        Assert.Equal(clockAt.Length, steps.Count);
        for (int i = 0; i < steps.Count; i++)
        {
            if (clockAt[i] > 0) rig.AdvanceToMs(clockAt[i]);
            probe.Take(); // resends of the unacknowledged echoes between steps are timing, not the reaction
            var replies = probe.Exchange(steps[i].GetProperty("sent").GetString()!);
            Assert.True(Replies(steps[i]).SequenceEqual(replies),
                $"step {i} ({steps[i].GetProperty("desc").GetString()}): expected [{string.Join(", ", Replies(steps[i]))}], got [{string.Join(", ", replies)}]");
        }

        var probeSession = rig.Sessions.Last();
        Assert.Equal(CloseKind.RemoteClose, rig.Closes.Single(c => c.Session == probeSession).Reason.Kind);
        // Dropped: the non-SYN first datagram, the wrong conv, the bad-checksum SYN, the junk, the PUSH after the FIN.
        Assert.Equal(5, rig.Server.DroppedDatagrams);
    }

    /// <summary>Invalid first packets from new endpoints (scenario A5): never a reply; a valid SYN afterwards from the
    /// same endpoint is accepted; SYNs with padding bits or a padding byte still count.</summary>
    [Fact]
    public void CapturedInvalidFirstPackets_GetNoReply_ValidSynsWithPaddingAreAccepted()
    {
        var rig = new KcpRig();
        var vectors = Capture.GetProperty("handshake_vectors");
        foreach (var name in new[] { "auto_conv", "requested_conv_12345", "auto_conv_second_client", "auto_conv" })
            rig.NewProbe().Exchange(Hex(vectors, name, "syn", "hex")); // conv 1, 12345, 2, 3 as in the capture

        long dropped = 0;
        foreach (var c in Capture.GetProperty("server_behaviour").GetProperty("invalid_12_byte_first_datagram").GetProperty("cases").EnumerateArray())
        {
            var probe = rig.NewProbe();
            var replies = probe.Exchange(c.GetProperty("sent").GetString()!);
            Assert.True(Replies(c).SequenceEqual(replies), $"{c.GetProperty("desc").GetString()}: got [{string.Join(", ", replies)}]");
            if (Replies(c).Count == 0) Assert.Equal(++dropped, rig.Server.DroppedDatagrams);
            if (c.TryGetProperty("then_valid_syn_from_same_endpoint", out var then))
                Assert.Equal(Replies(then), probe.Exchange(then.GetProperty("sent").GetString()!));
        }
        Assert.Equal(8, dropped);
    }
}
