using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>RPC on WebSocket binary messages: a message transport keeps the boundaries, so no framing is involved.</summary>
public class RpcOverWebSocketTests
{
    [Fact]
    public async Task MessagePackRpc_OverWebSocketMessages_CallsInBothDirections_AndCarriesTenMebibytes()
    {
        var serverBindings = new RpcBindings()
            .Bind("add", (int a, int b) => a + b)
            .Bind("echo_bytes", (byte[] b) => b);
        var serverPeers = new ReplaySubject<RpcPeer>();
        await using var server = new WebSocketServer(new WebSocketServerOptions { MaxMessageSize = 16 * 1024 * 1024, MaxSendQueueBytes = 32 * 1024 * 1024 });
        server.Sessions.Subscribe(s => serverPeers.OnNext(serverBindings.Attach(s)));
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false }, MaxMessageSize = 16 * 1024 * 1024, MaxSendQueueBytes = 32 * 1024 * 1024 });
        using var rpc = new RpcClient(client).Bind("whoami", (Session s) => s.Transport);
        await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);

        Assert.Equal(3, await rpc.Call<int>("add", 1, 2).Timeout(Wait.Long));
        var serverPeer = await serverPeers.First("the server's peer");
        Assert.Equal("ws", await serverPeer.Call<string>("whoami").Timeout(Wait.Long));

        var payload = new byte[10 * 1024 * 1024];
        new Random(11).NextBytes(payload);
        Assert.Equal(payload, await rpc.Call<byte[]>("echo_bytes", payload).Timeout(Wait.Long));
    }
}
