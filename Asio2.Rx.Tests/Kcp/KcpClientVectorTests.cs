using System.Net;
using System.Reactive.Linq;
using System.Text.Json;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// <see cref="KcpClient"/>'s handshake against asio2's captures, in virtual time: a raw probe plays the server, and the
/// scheduler's clock is set so that the client's SYN carries the captured seq, making its bytes comparable.
/// </summary>
public sealed class KcpClientVectorTests
{
    private static JsonElement Capture => SharedFolder.Asio2KcpCapture;

    private sealed class Rig
    {
        public Rig(string capturedSynHex, TimeSpan connectTimeout)
        {
            // The SYN's seq is the client's clock in Unix milliseconds, truncated: start the clock there.
            uint seq = Convert.ToUInt32(capturedSynHex[..8], 16);
            Scheduler.AdvanceTo(DateTimeOffset.UnixEpoch.Ticks + seq * TimeSpan.TicksPerMillisecond);
            Network = new MemoryDatagramNetwork(Scheduler);
            ServerChannel = Network.Bind();
            ServerChannel.Start((d, from) =>
            {
                Received.Add((Scheduler.Clock, Convert.ToHexString(d).ToLowerInvariant()));
                ClientAddress = DatagramChannel.Copy(from);
            });
            Client = new KcpClient(new KcpClientOptions
            {
                Schedulers = new SchedulerPool(Scheduler), ConnectTimeout = connectTimeout, Reconnect = { Enabled = false },
            });
            Client.ChannelFactory = (_, _) => Network.Bind();
            Client.Disconnects.Subscribe(r => Disconnects.Add(r));
            Client.Connect(ServerChannel.LocalEndPoint).Subscribe(s => Connected = s, e => Error = e);
        }

        public TestScheduler Scheduler { get; } = new();
        public MemoryDatagramNetwork Network { get; }
        public DatagramChannel ServerChannel { get; }
        public KcpClient Client { get; }
        public List<(long Time, string Hex)> Received { get; } = [];
        public List<CloseReason> Disconnects { get; } = [];
        public SocketAddress? ClientAddress { get; private set; }
        public Session? Connected { get; private set; }
        public Exception? Error { get; private set; }

        public void Reply(string hex) => ServerChannel.Send(Convert.FromHexString(hex), ClientAddress!);
    }

    [Fact]
    public void SilentServer_GetsTheIdenticalSynEvery500Ms_UntilTheConnectTimeout_AndNoFin()
    {
        var train = Capture.GetProperty("handshake_vectors").GetProperty("syn_resend_to_silent_peer");
        var syns = train.GetProperty("syns").EnumerateArray().Select(s => s.GetProperty("hex").GetString()!).ToList();
        var rig = new Rig(syns[0], TimeSpan.FromMilliseconds(train.GetProperty("connect_timeout_ms").GetInt32()));
        long start = rig.Scheduler.Clock;

        rig.Scheduler.AdvanceBy(TimeSpan.FromSeconds(10).Ticks);

        Assert.Equal(syns, rig.Received.Select(r => r.Hex));
        Assert.Equal([0L, 500, 1000, 1500, 2000], rig.Received.Select(r => (r.Time - start) / TimeSpan.TicksPerMillisecond));
        Assert.Equal(CloseKind.ConnectTimeout, Assert.Single(rig.Disconnects).Kind);
        Assert.Equal(CloseKind.ConnectTimeout, Assert.IsType<ConnectException>(rig.Error).Reason.Kind);
    }

    [Theory]
    [InlineData("C1_synack_rfc1071_be_checksum")]
    [InlineData("C2_synack_ack_not_seq_plus_1")]
    public void WrongFirstReply_FailsTheHandshakeAtOnce_AndSendsAFin(string caseName)
    {
        var c = Capture.GetProperty("client_behaviour").GetProperty("cases").GetProperty(caseName);
        var rig = new Rig(c.GetProperty("syn").GetString()!, TimeSpan.FromSeconds(30));
        rig.Scheduler.AdvanceBy(10);
        Assert.Equal([c.GetProperty("syn").GetString()!], rig.Received.Select(r => r.Hex));

        rig.Reply(c.GetProperty("reply").GetString()!);
        rig.Scheduler.AdvanceBy(TimeSpan.FromSeconds(2).Ticks);

        // asio2 sent exactly one datagram after the bad reply: the FIN.
        Assert.Equal(c.GetProperty("later_count").GetInt32(), rig.Received.Count - 1);
        Assert.Equal("00000000000000000400fffb", rig.Received[^1].Hex);
        Assert.Equal(CloseKind.HandshakeFailed, Assert.Single(rig.Disconnects).Kind);
        Assert.Equal(CloseKind.HandshakeFailed, Assert.IsType<ConnectException>(rig.Error).Reason.Kind);
        Assert.Equal(1, rig.Client.DroppedDatagrams);
    }

    [Fact]
    public void ValidSynAck_Connects_AndTheFirstMessageUsesItsConvAsAsio2s()
    {
        var c = Capture.GetProperty("client_behaviour").GetProperty("cases").GetProperty("C3_synack_valid_conv_4242");
        var rig = new Rig(c.GetProperty("syn").GetString()!, TimeSpan.FromSeconds(30));
        rig.Scheduler.AdvanceBy(10);

        rig.Reply(c.GetProperty("reply").GetString()!);
        rig.Scheduler.AdvanceBy(10);
        Assert.NotNull(rig.Connected);
        rig.Client.Send("hello");
        rig.Scheduler.AdvanceBy(10);

        // asio2's datagram, except ts (bytes 8..11): its KCP clock is not its SYN clock, so no one clock gives both.
        string expected = Capture.GetProperty("client_behaviour").GetProperty("c3_first_datagrams_after_valid_synack")[0].GetProperty("hex").GetString()!;
        string actual = rig.Received[^1].Hex;
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected[..16], actual[..16]);
        Assert.Equal(expected[24..], actual[24..]);
        Assert.Equal(2, rig.Received.Count); // SYN, then the PUSH: no second SYN once answered
    }

    [Fact]
    public void Disconnect_SendsOneFin_AfterTheQueuedMessageIsAcknowledged()
    {
        var c = Capture.GetProperty("client_behaviour").GetProperty("cases").GetProperty("C3_synack_valid_conv_4242");
        var rig = new Rig(c.GetProperty("syn").GetString()!, TimeSpan.FromSeconds(30));
        rig.Scheduler.AdvanceBy(10);
        rig.Reply(c.GetProperty("reply").GetString()!);
        rig.Scheduler.AdvanceBy(10);
        rig.Client.Send("bye");
        var disconnect = rig.Client.DisconnectAsync();
        rig.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(500).Ticks);
        Assert.DoesNotContain("00000000000000000400fffb", rig.Received.Select(r => r.Hex)); // lingering: "bye" is unacknowledged

        // The fake server acknowledges sn 0 (ACK, conv 4242, una 1): the client's linger ends with a FIN.
        var ack = Convert.FromHexString("92100000" + "52" + "00" + "0002" + "00000000" + "00000000" + "01000000" + "00000000");
        rig.ServerChannel.Send(ack, rig.ClientAddress!);
        rig.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);

        Assert.Equal("00000000000000000400fffb", rig.Received[^1].Hex);
        Assert.Single(rig.Received, r => r.Hex == "00000000000000000400fffb");
        Assert.True(disconnect.IsCompleted);
        Assert.Equal(CloseKind.LocalClose, Assert.Single(rig.Disconnects).Kind);
    }
}
