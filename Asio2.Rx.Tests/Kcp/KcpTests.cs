using System.Buffers.Binary;
using System.Text.Json;
// The test namespace Asio2.Rx.Tests.Kcp hides the type name Kcp.
using KcpEndpoint = Asio2.Rx.Kcp;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// <see cref="KcpEndpoint"/> beyond the ikcp traces: the asio2 preset against traffic captured from real
/// asio2 peers, the presets, <see cref="KcpEndpoint.Reset"/> and disposal.
/// </summary>
public sealed class KcpTests
{
    [Fact]
    public void Asio2Preset_FirstClientFlush_MatchesTheCapturedSegments()
    {
        // The captured client sent "hello" and a 5000-byte 'A'..'Z' message right after the handshake (conv 1).
        JsonElement[] captured = SharedFolder.Asio2KcpCapture.GetProperty("full_trace_A1_kcp_client_vs_server")
            .EnumerateArray().Where(p => p.GetProperty("decoded").GetProperty("kind").GetString() == "kcp_segments").Take(5).ToArray();
        var client = new Recorder(1, KcpPreset.Asio2);
        client.Kcp.Send("hello"u8);
        client.Kcp.Send(Enumerable.Range(0, 5000).Select(i => (byte)('A' + i % 26)).ToArray());

        client.Kcp.Update(Ts(captured[0]));

        Assert.Equal(captured.Length, client.Packets.Count);
        for (int i = 0; i < captured.Length; i++)
        {
            string hex = captured[i].GetProperty("hex").GetString()!;
            string actual = Convert.ToHexStringLower(client.Packets[i]);
            Assert.Equal(captured[i].GetProperty("len").GetInt32(), client.Packets[i].Length);
            Assert.StartsWith(hex.TrimEnd('.'), actual, StringComparison.Ordinal); // long packets are captured truncated, ending in "..."
        }
    }

    /// <summary>
    /// Replays the probe of an established asio2 server session (conv 3): each PUSH is echoed back in one
    /// packet with its ACK, a wrong conv and 12-byte junk are ignored, and a repeated SYN is answered with
    /// the same SYN-ACK and resets KCP, so both sides restart at sn 0.
    /// </summary>
    [Fact]
    public void Asio2Preset_ServerSession_AnswersTheCapturedProbeByteForByte()
    {
        JsonElement[] steps = SharedFolder.Asio2KcpCapture.GetProperty("server_behaviour").GetProperty("established_session")
            .GetProperty("steps").EnumerateArray().ToArray();
        var server = new Recorder(3, KcpPreset.Asio2);
        var buffer = new byte[1024];
        int echoed = 0;

        foreach (JsonElement step in steps)
        {
            byte[] sent = Convert.FromHexString(step.GetProperty("sent").GetString()!);
            string[] replies = step.GetProperty("replies").EnumerateArray().Select(r => r.GetString()!).ToArray();
            string desc = step.GetProperty("desc").GetString()!;

            if (KcpHandshake.Classify(sent.Length) == KcpDatagramKind.Handshake)
            {
                if (KcpHandshake.IsFin(sent))
                {
                    break; // the session ends; what follows is a new, rejected session
                }

                if (!KcpHandshake.IsSyn(sent))
                {
                    Assert.Empty(replies);
                    continue;
                }

                var synAck = new byte[KcpHandshake.Size];
                KcpHandshake.WriteSynAck(synAck, server.Kcp.Conv, BinaryPrimitives.ReadUInt32BigEndian(sent));
                Assert.Equal(Assert.Single(replies), Convert.ToHexStringLower(synAck));
                server.Kcp.Reset();
                continue;
            }

            int input = server.Kcp.Input(sent);
            if (replies.Length == 0)
            {
                Assert.Equal(-1, input); // the wrong conv
                continue;
            }

            Assert.Equal(0, input);
            int length = server.Kcp.Receive(buffer);
            Assert.Equal(0, server.Kcp.Send(buffer.AsSpan(0, length)) - length);

            // The server's clock at the reply is the ts of the PUSH it sent (the second segment).
            string reply = Assert.Single(replies);
            server.Packets.Clear();
            server.Kcp.Update(BinaryPrimitives.ReadUInt32LittleEndian(Convert.FromHexString(reply).AsSpan(24 + 8)));
            Assert.True(reply == Convert.ToHexStringLower(Assert.Single(server.Packets)), desc);
            echoed++;
        }

        Assert.Equal(3, echoed);
    }

    /// <summary>asio2's client resent an unacknowledged segment after these gaps (fast preset, 10 ms updates).</summary>
    [Fact]
    public void Asio2Preset_WithoutAcks_RetransmitsOnTheCapturedSchedule()
    {
        string schedule = SharedFolder.Asio2KcpCapture.GetProperty("conv").GetProperty("kcp_parameters_observed")
            .GetProperty("retransmit_schedule_ms_without_acks").GetString()!;
        uint[] expectedGaps = schedule.Split(' ')[..6].Select(s => uint.Parse(s.TrimEnd(','))).ToArray();
        var client = new Recorder(1, KcpPreset.Asio2);
        client.Kcp.Send("hello"u8);

        var sentAt = new List<uint>();
        for (uint now = 0; sentAt.Count <= expectedGaps.Length; now += 10)
        {
            client.Packets.Clear();
            client.Kcp.Update(now);
            if (client.Packets.Count > 0)
            {
                sentAt.Add(now);
            }
        }

        Assert.Equal(expectedGaps, sentAt.Zip(sentAt.Skip(1), (a, b) => b - a));
    }

    [Fact]
    public void Presets_SetIntervalMinRtoAndWindows()
    {
        using var normal = new KcpEndpoint(1, static (_, _) => { });
        normal.Apply(KcpPreset.Normal);
        Assert.Equal((40, 100, 32, 128), (normal.Interval, normal.MinRto, normal.SendWindow, normal.ReceiveWindow));

        using var fast = new KcpEndpoint(1, static (_, _) => { });
        fast.Apply(KcpPreset.Fast);
        Assert.Equal((10, 30, 32, 128), (fast.Interval, fast.MinRto, fast.SendWindow, fast.ReceiveWindow));

        using var asio2 = new KcpEndpoint(1, static (_, _) => { });
        asio2.Apply(KcpPreset.Asio2);
        Assert.Equal((10, 30, 128, 512), (asio2.Interval, asio2.MinRto, asio2.SendWindow, asio2.ReceiveWindow));
    }

    [Fact]
    public void Presets_OnlyTheNormalOneWaitsForTheCongestionWindowOnTheFirstUpdate()
    {
        var normal = new Recorder(1, KcpPreset.Normal);
        var fast = new Recorder(1, KcpPreset.Fast);
        normal.Kcp.Send("x"u8);
        fast.Kcp.Send("x"u8);

        normal.Kcp.Update(0);
        fast.Kcp.Update(0);

        Assert.Empty(normal.Packets);
        Assert.Single(fast.Packets);
    }

    [Fact]
    public void Reset_EmptiesEveryQueueAndRestartsAtSnZero_KeepingTheConfiguration()
    {
        var a = new Recorder(7, KcpPreset.Asio2);
        a.Kcp.SetMtu(600);
        a.Kcp.StreamMode = true;
        a.Kcp.Send(new byte[5000]);
        a.Kcp.Update(1000);
        Assert.True(a.Kcp.WaitSnd > 0);

        a.Kcp.Reset();

        Assert.Equal((0, -1), (a.Kcp.WaitSnd, a.Kcp.PeekSize()));
        Assert.Equal((600, 10, 128, 512, true), (a.Kcp.Mtu, a.Kcp.Interval, a.Kcp.SendWindow, a.Kcp.ReceiveWindow, a.Kcp.StreamMode));
        Assert.Equal(2000u, a.Kcp.Check(2000)); // not updated since the reset

        a.Packets.Clear();
        a.Kcp.Send("x"u8);
        a.Kcp.Update(2000);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(Assert.Single(a.Packets).AsSpan(12))); // sn
    }

    [Fact]
    public void Dispose_ThenAnyCallThatUsesBuffers_Throws()
    {
        var kcp = new KcpEndpoint(1, static (_, _) => { });
        kcp.Send(new byte[3000]);
        kcp.Dispose();
        kcp.Dispose();

        Assert.Throws<ObjectDisposedException>(() => kcp.Send("x"u8));
        Assert.Throws<ObjectDisposedException>(() => kcp.Input(new byte[24]));
        Assert.Throws<ObjectDisposedException>(() => kcp.Receive(new byte[10]));
        Assert.Throws<ObjectDisposedException>(() => kcp.Update(0));
        Assert.Throws<ObjectDisposedException>(() => kcp.Flush());
    }

    /// <summary>A segment cut before a smaller mtu was set goes out alone (ikcp would overrun its buffer).</summary>
    [Fact]
    public void SetMtuBelowAQueuedSegment_SendsThatSegmentAloneThenCutsToTheNewMss()
    {
        var a = new Recorder(1, KcpPreset.Fast);
        a.Kcp.Send(new byte[1376]);
        a.Kcp.SetMtu(100);
        a.Kcp.Send(new byte[100]);

        a.Kcp.Update(0);

        Assert.Equal([1400, 100, 48], a.Packets.Select(p => p.Length));
    }

    private static uint Ts(JsonElement packet) =>
        packet.GetProperty("decoded").GetProperty("segments")[0].GetProperty("ts").GetUInt32();

    /// <summary>An endpoint whose packets are kept.</summary>
    private sealed class Recorder
    {
        public Recorder(uint conv, KcpPreset preset)
        {
            Kcp = new KcpEndpoint(conv, static (packet, state) => ((List<byte[]>)state!).Add(packet.ToArray()), Packets);
            Kcp.Apply(preset);
        }

        public KcpEndpoint Kcp { get; }

        public List<byte[]> Packets { get; } = [];
    }
}

/// <summary>
/// What <see cref="KcpEndpoint"/> allocates. Not run in parallel with other tests: they share
/// <see cref="System.Buffers.ArrayPool{T}.Shared"/>, and a test that drains it makes this thread allocate.
/// </summary>
[Collection(nameof(KcpAllocationTests))]
public sealed class KcpAllocationTests
{
    [Fact]
    public void SteadyState_AllocatesNothingPerMessage()
    {
        // Packets go straight from one endpoint to the other through two preallocated buffers.
        var a = new Pipe();
        var b = new Pipe();
        using var left = new KcpEndpoint(9, static (packet, state) => ((Pipe)state!).Write(packet), b);
        using var right = new KcpEndpoint(9, static (packet, state) => ((Pipe)state!).Write(packet), a);
        left.Apply(KcpPreset.Fast);
        right.Apply(KcpPreset.Fast);
        byte[] message = new byte[3000];
        byte[] received = new byte[4096];
        uint now = 0;

        // No Assert inside the measured loop: xunit's comparers allocate.
        void RoundTrip()
        {
            int sent = left.Send(message);
            now += 10;
            left.Update(now);
            b.DrainInto(right);
            int read = right.Receive(received);
            right.Update(now);
            a.DrainInto(left);
            if (sent != 3000 || read != 3000)
            {
                throw new InvalidOperationException($"sent {sent}, read {read}");
            }
        }

        for (int i = 0; i < 200; i++)
        {
            RoundTrip(); // warm up pools, JIT and the ack list
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            RoundTrip();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(0, left.WaitSnd);
    }

    /// <summary>Up to 16 packets of up to 1400 bytes in preallocated storage.</summary>
    private sealed class Pipe
    {
        private readonly byte[][] _packets = Enumerable.Range(0, 16).Select(_ => new byte[1400]).ToArray();
        private readonly int[] _lengths = new int[16];
        private int _count;

        public void Write(ReadOnlySpan<byte> packet)
        {
            packet.CopyTo(_packets[_count]);
            _lengths[_count++] = packet.Length;
        }

        public void DrainInto(KcpEndpoint kcp)
        {
            for (int i = 0; i < _count; i++)
            {
                if (kcp.Input(_packets[i].AsSpan(0, _lengths[i])) != 0)
                {
                    throw new InvalidOperationException("input rejected");
                }
            }

            _count = 0;
        }
    }
}

/// <summary>Runs <see cref="KcpAllocationTests"/> alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(KcpAllocationTests), DisableParallelization = true)]
public sealed class KcpAllocationTestsCollection;
