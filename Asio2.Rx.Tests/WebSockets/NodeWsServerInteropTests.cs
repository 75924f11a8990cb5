using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>Our <see cref="WebSocketClient"/> against node's <c>ws</c> server (an independent implementation).</summary>
public class NodeWsServerInteropTests
{
    private static async Task<(PeerProcess Node, int Port)> StartServer(bool deflate = false)
    {
        var node = new PeerProcess("node", PeerProcess.Script("ws-echo-server.js"), deflate ? "deflate" : "plain");
        int port = int.Parse(await node.ReadLine());
        return (node, port);
    }

    private static WebSocketClientOptions Options(bool deflate = false) => new()
    {
        Reconnect = { Enabled = false },
        MaxMessageSize = 32 * 1024 * 1024,
        MaxSendQueueBytes = 64 * 1024 * 1024,
        Compression = deflate ? new WebSocketCompressionOptions() : null,
        Headers = { new("Authorization", "Bearer t0ken") },
    };

    [PeerTheory("node", Npm = ["ws"])]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Echo_TextBinaryEmptyAnd16MiB_WithAndWithoutDeflate(bool deflate)
    {
        var (node, port) = await StartServer(deflate);
        using var peer = node;
        await using var client = new WebSocketClient(Options(deflate));
        var echoes = client.Frames.Take(4).ToList().ToTask();
        var session = (WebSocketSession)await client.Connect($"ws://127.0.0.1:{port}/echo").Timeout(Wait.Long);
        Assert.Equal(deflate, session.IsCompressed);
        Assert.Contains("auth Bearer t0ken", await node.ReadLineStartingWith("extensions"));

        var big = new byte[16 * 1024 * 1024];
        Random.Shared.NextBytes(big);
        _ = session.Send("héllo wörld");
        _ = session.Send(new byte[] { 0, 1, 2, 255 });
        _ = session.Send(Array.Empty<byte>());
        _ = session.Send(big);
        var got = await echoes.WaitAsync(Wait.Long);

        Assert.Equal((FrameKind.Text, "héllo wörld"), (got[0].Kind, got[0].Text));
        Assert.Equal(FrameKind.Binary, got[1].Kind);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, got[1].Data.ToArray());
        Assert.Equal(0, got[2].Length);
        Assert.True(big.AsSpan().SequenceEqual(got[3].Span));
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task StreamedTextSentInCompressedFragments_IsEchoedWhole()
    {
        var (node, port) = await StartServer(deflate: true);
        using var peer = node;
        await using var client = new WebSocketClient(Options(deflate: true));
        var echo = client.Frames.First("the echo");
        var session = await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        var text = string.Concat(Enumerable.Repeat("fragment and compress me — ", 40_000));
        var bytes = Encoding.UTF8.GetBytes(text);

        // 10 000-byte chunks: code points of "—" are cut across fragments; node checks the message's UTF-8 whole.
        await session.SendAsync(Observable.Range(0, (bytes.Length + 9_999) / 10_000)
            .Select(i => (ReadOnlyMemory<byte>)bytes.AsMemory(i * 10_000, Math.Min(10_000, bytes.Length - i * 10_000))), FrameKind.Text).WaitAsync(Wait.Long);

        Assert.Equal(text, (await echo).Text);
        Assert.True(session.BytesSent < bytes.Length / 10, $"{session.BytesSent} bytes on the wire for {bytes.Length}");
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task FragmentedMessageFromNode_IsOneFrame()
    {
        var (node, port) = await StartServer();
        using var peer = node;
        await using var client = new WebSocketClient(Options());
        var frame = client.Frames.First("the reassembled message");
        await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        _ = client.Send("fragments");
        Assert.Equal("fragmented", (await frame).Text);
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task NodePing_IsAnsweredWithAPong()
    {
        var (node, port) = await StartServer();
        using var peer = node;
        await using var client = new WebSocketClient(Options());
        var frame = client.Frames.First("node's report of our pong");
        await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        _ = client.Send("ping");
        Assert.Equal("pong", (await frame).Text);
    }

    [PeerFact("node", Npm = ["ws"])]
    public async Task CloseCodes_BothWays()
    {
        var (node, port) = await StartServer();
        using var peer = node;
        await using var client = new WebSocketClient(Options());
        var session = await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        var closed = session.Closed.First("the server's close");
        _ = client.Send("close:4001:server says bye");
        var reason = await closed;
        Assert.Equal((CloseKind.RemoteClose, 4001, "server says bye"), (reason.Kind, reason.Code, reason.Message));
        Assert.Equal("closed 4001 server says bye", await node.ReadLineStartingWith("closed"));

        await using var second = new WebSocketClient(Options());
        var ws = (WebSocketSession)await second.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        ws.Close(4002, "client says bye");
        Assert.Equal("closed 4002 client says bye", await node.ReadLineStartingWith("closed"));
        var own = await ws.Closed.First("our close");
        Assert.Equal((CloseKind.LocalClose, 4002), (own.Kind, own.Code));
    }
}
