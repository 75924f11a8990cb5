using System.Diagnostics;
using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Xunit.Abstractions;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// Raw-conv mode against the reference ikcp: <c>ikcp.c</c> from the npm package node-kcp, compiled with gcc into the
/// small peer in <c>Kcp/peer/kcp_peer.c</c>, over real UDP on loopback through a relay that loses 10 % of the
/// datagrams each way (seeded). Messages of 1 B to 8 KiB, intact and in order, both directions, both presets.
/// </summary>
/// <remarks>The fast preset moves 10 000 messages (about 40 MiB each way) in seconds. The normal preset is TCP-like:
/// at 10 % loss every lost segment waits out a doubling timeout (no fast resend) and the congestion window falls to
/// one, so it moves some tens of KiB/s here; it runs 300 messages (about 1.2 MiB each way) to keep the suite short.</remarks>
public sealed class KcpRawConvInteropTests(ITestOutputHelper output)
{
    private const uint Conv = 0x2A2B2C2D;
    private static readonly Lazy<string> s_peer = new(CompilePeer);

    [PeerTheory("gcc", Npm = ["node-kcp"])]
    [InlineData(KcpMode.Normal, 300)]
    [InlineData(KcpMode.Fast, 10_000)]
    public async Task IkcpClient_ToRawConvServer_MessagesEchoedIntactAndInOrder(KcpMode mode, int messages)
    {
        await using var server = new KcpServer(Options(new KcpServerOptions { AllowedConvs = [Conv] }, mode));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start("127.0.0.1", 0);
        await using var relay = new LossyUdpRelay(bound, 0.10, seed: 17);

        using var peer = StartPeer("send", mode, $"127.0.0.1 {relay.FrontEndPoint.Port} {messages} 5");
        await ReadPort(peer);
        string result = await peer.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(3)) ?? "(no output)";
        await peer.WaitForExitAsync().WaitAsync(Wait.Long);

        Report(mode, relay);
        Assert.Equal($"OK {messages}", result); // the peer checked every echo against what it sent
        Assert.Equal(0, peer.ExitCode);
        Assert.True(relay.DroppedToServer > 0 && relay.DroppedToClient > 0, "the relay lost nothing");
        var session = Assert.Single(server.GetSessions());
        Assert.Equal(messages, session.FramesReceived);
    }

    [PeerTheory("gcc", Npm = ["node-kcp"])]
    [InlineData(KcpMode.Normal, 300)]
    [InlineData(KcpMode.Fast, 10_000)]
    public async Task RawConvClient_ToIkcpEchoPeer_MessagesComeBackIntactAndInOrder(KcpMode mode, int messages)
    {
        using var peer = StartPeer("echo", mode, "");
        int port = await ReadPort(peer);
        await using var relay = new LossyUdpRelay(new IPEndPoint(IPAddress.Loopback, port), 0.10, seed: 23);
        await using var client = new KcpClient(Options(new KcpClientOptions { Conv = Conv, Reconnect = { Enabled = false } }, mode));
        var random = new Random(3);
        var sent = Enumerable.Range(0, messages).Select(_ =>
        {
            var m = new byte[random.Next(1, 8193)];
            random.NextBytes(m);
            return m;
        }).ToList();
        var echoes = client.Frames.Select(f => f.Data.ToArray()).Take(messages).ToList().ToTask();
        var session = await client.Connect(relay.FrontEndPoint).First("the raw-conv session");

        foreach (var m in sent) Assert.False(session.Send(m).IsRejected);
        var got = await echoes.WaitAsync(TimeSpan.FromMinutes(3));
        peer.StandardInput.Close();

        Report(mode, relay);
        Assert.Equal(sent.Count, got.Count);
        for (int i = 0; i < sent.Count; i++) Assert.True(sent[i].AsSpan().SequenceEqual(got[i]), $"echo {i} differs");
        Assert.True(relay.DroppedToServer > 0 && relay.DroppedToClient > 0, "the relay lost nothing");
        Assert.True(session.IsOpen);
    }

    private static T Options<T>(T options, KcpMode mode) where T : KcpOptions
    {
        options.Handshake = KcpHandshakeMode.None;
        options.Mode = mode;
        options.SendWindow = 256; // as the peer's ikcp_wndsize(256, 256)
        options.ReceiveWindow = 256;
        options.MaxSendQueueBytes = 128 * 1024 * 1024;
        options.MaxPendingReceiveBytes = 16 * 1024 * 1024;
        options.SocketReceiveBufferSize = 4 * 1024 * 1024;
        return options;
    }

    private void Report(KcpMode mode, LossyUdpRelay relay) =>
        output.WriteLine($"{mode}: relay forwarded {relay.ForwardedToServer} / dropped {relay.DroppedToServer} toward the server, " +
            $"forwarded {relay.ForwardedToClient} / dropped {relay.DroppedToClient} toward the client");

    private static Process StartPeer(string role, KcpMode mode, string rest)
    {
        var info = new ProcessStartInfo(s_peer.Value, $"{role} {(mode == KcpMode.Fast ? "fast" : "normal")} {Conv} {rest}")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        return Process.Start(info) ?? throw new InvalidOperationException("the ikcp peer did not start");
    }

    private static async Task<int> ReadPort(Process peer)
    {
        string? line = await peer.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long);
        Assert.StartsWith("PORT ", line);
        return int.Parse(line!["PORT ".Length..]);
    }

    /// <summary>Builds the peer from kcp_peer.c and node-kcp's ikcp.c once per test run, into a temporary folder.</summary>
    private static string CompilePeer()
    {
        string ikcp = Path.Combine(Peers.NodeFolder, "node_modules", "node-kcp", "src", "kcp");
        string source = Path.Combine(Peers.NodeFolder, "..", "Kcp", "peer", "kcp_peer.c");
        string folder = Directory.CreateTempSubdirectory("asio2rx-kcp-peer-").FullName;
        string binary = Path.Combine(folder, "kcp_peer");
        var gcc = Process.Start(new ProcessStartInfo("gcc", ["-O2", "-o", binary, source, Path.Combine(ikcp, "ikcp.c"), "-I", ikcp])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        string errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        if (gcc.ExitCode != 0) throw new InvalidOperationException($"gcc failed: {errors}");
        return binary;
    }
}
