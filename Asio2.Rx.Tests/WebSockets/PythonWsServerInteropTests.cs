using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>Our <see cref="WebSocketClient"/> against Debian's python3 <c>websockets</c> as the server (a second
/// independent implementation, besides node's <c>ws</c>).</summary>
public class PythonWsServerInteropTests
{
    private static async Task<(PeerProcess Python, int Port)> StartServer()
    {
        var python = new PeerProcess("/usr/bin/python3", PeerProcess.Script("ws_server.py"));
        int port = int.Parse(await python.ReadLine());
        return (python, port);
    }

    private static WebSocketClient Client() => new(new WebSocketClientOptions { Reconnect = { Enabled = false }, MaxMessageSize = 4 * 1024 * 1024 });

    [PeerFact("/usr/bin/python3")]
    public async Task Echo_TextBinaryEmptyFragmentedAndPing()
    {
        var (python, port) = await StartServer();
        using var peer = python;
        await using var client = Client();
        var echoes = client.Frames.Take(6).ToList().ToTask();
        var session = await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);

        var big = new byte[1024 * 1024];
        Random.Shared.NextBytes(big);
        _ = session.Send("héllo wörld");
        _ = session.Send(new byte[] { 0, 1, 2, 255 });
        _ = session.Send(Array.Empty<byte>());
        _ = session.Send(big);
        _ = session.Send("fragments");
        _ = session.Send("ping");
        var got = await echoes.WaitAsync(Wait.Long);

        Assert.Equal((FrameKind.Text, "héllo wörld"), (got[0].Kind, got[0].Text));
        Assert.Equal(FrameKind.Binary, got[1].Kind);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, got[1].Data.ToArray());
        Assert.Equal((FrameKind.Binary, 0), (got[2].Kind, got[2].Length));
        Assert.True(big.AsSpan().SequenceEqual(got[3].Span), "the 1 MiB message came back unchanged");
        Assert.Equal((FrameKind.Text, "fragmented"), (got[4].Kind, got[4].Text)); // three frames from python, one message here
        Assert.Equal("pong", got[5].Text); // python's ping was answered with a pong
    }

    [PeerFact("/usr/bin/python3")]
    public async Task ServerClose_ReachesOurSession_WithItsCodeAndReason()
    {
        var (python, port) = await StartServer();
        using var peer = python;
        await using var client = Client();
        var session = await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        var closed = session.Closed.First("python's close");

        _ = session.Send("close:4001:python says bye");

        var reason = await closed;
        Assert.Equal((CloseKind.RemoteClose, 4001, "python says bye"), (reason.Kind, reason.Code, reason.Message));
        Assert.Equal("closed 4001 python says bye", await python.ReadLineStartingWith("closed"));
    }

    [PeerFact("/usr/bin/python3")]
    public async Task ClientClose_ReachesPython_WithItsCodeAndReason()
    {
        var (python, port) = await StartServer();
        using var peer = python;
        await using var client = Client();
        var session = (WebSocketSession)await client.Connect($"ws://127.0.0.1:{port}/").Timeout(Wait.Long);
        var closed = session.Closed.First("our close");

        session.Close(4002, "client says bye");

        Assert.Equal("closed 4002 client says bye", await python.ReadLineStartingWith("closed"));
        var reason = await closed;
        Assert.Equal((CloseKind.LocalClose, 4002, "client says bye"), (reason.Kind, reason.Code, reason.Message));
    }
}
