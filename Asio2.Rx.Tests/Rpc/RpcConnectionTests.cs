using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>RPC over real connections: pipelining in both directions, server stop, serial ports.</summary>
public sealed class RpcConnectionTests
{
    [Theory]
    [InlineData(RpcTransport.Tcp, RpcProtocol.MessagePackRpc)]
    [InlineData(RpcTransport.Tcp, RpcProtocol.Asio2)]
    [InlineData(RpcTransport.Kcp, RpcProtocol.MessagePackRpc)]
    public async Task TenThousandPipelinedCalls_InBothDirectionsAtOnce_AreAllAnsweredAndMatched(RpcTransport transport, RpcProtocol protocol)
    {
        const int n = 10_000;
        await using var rig = await RpcRig.Start(transport,
            b => b.Bind("add", (int a, int b) => a + b),
            b => b.Bind("mul", (int a, int b) => a * b),
            new RpcOptions { Protocol = protocol, DefaultTimeout = TimeSpan.FromMinutes(2) });

        // Every call is subscribed (sent) before any result is awaited: up to 2 x 10 000 requests in flight.
        var fromClient = Enumerable.Range(0, n).Select(i => rig.ClientPeer.Call<int>("add", i, i).Select(r => (i, r))).Merge().ToList().ToTask();
        var fromServer = Enumerable.Range(0, n).Select(i => rig.ServerPeer.Call<int>("mul", i, 3).Select(r => (i, r))).Merge().ToList().ToTask();

        var clientResults = await fromClient.WaitAsync(TimeSpan.FromMinutes(2));
        var serverResults = await fromServer.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(n, clientResults.Count);
        Assert.All(clientResults, x => Assert.Equal(2 * x.i, x.r));
        Assert.Equal(n, serverResults.Select(x => x.i).Distinct().Count());
        Assert.All(serverResults, x => Assert.Equal(3 * x.i, x.r));
        Assert.Equal(0, rig.ClientPeer.PendingCalls);
        Assert.Equal(0, rig.ServerPeer.PendingCalls);
    }

    [Fact]
    public async Task ServerStop_FailsPendingCallsOnBothSides_WithConnectionLost()
    {
        var release = new TaskCompletionSource<int>();
        var serverRuns = new TaskCompletionSource();
        var clientRuns = new TaskCompletionSource();
        await using var rig = await RpcRig.Start(RpcTransport.Tcp,
            b => b.Bind("wait", () => { serverRuns.TrySetResult(); return release.Task; }),
            b => b.Bind("wait", () => { clientRuns.TrySetResult(); return release.Task; }),
            new RpcOptions { DefaultTimeout = null });
        var clientCall = rig.ClientPeer.Call<int>("wait").ToTask();
        var serverCall = rig.ServerPeer.Call<int>("wait").ToTask();
        await Task.WhenAll(serverRuns.Task, clientRuns.Task).WaitAsync(Wait.Long);

        await rig.Listener!.StopAsync().WaitAsync(Wait.Long);

        Assert.Equal(RpcErrorKind.ConnectionLost, (await Assert.ThrowsAsync<RpcException>(() => clientCall.WaitAsync(Wait.Long))).Kind);
        Assert.Equal(RpcErrorKind.ConnectionLost, (await Assert.ThrowsAsync<RpcException>(() => serverCall.WaitAsync(Wait.Long))).Kind);
        Assert.Equal(0, rig.ClientPeer.PendingCalls);
        Assert.Equal(0, rig.ServerPeer.PendingCalls);
        Assert.Equal(0, rig.ServerPeer.RunningCalls);
        Assert.Empty(rig.Server!.GetPeers());
        release.SetResult(1);
    }

    [PeerFact("socat")]
    public async Task SerialPorts_CarryRpc_ThroughTheSameSessionApi()
    {
        await using var pty = await SerialPorts.SocatPair.CreateAsync();
        SerialPortOptions Options(string port) => new() { PortName = port, Framing = Framing.MessagePackObject(), Reopen = { Enabled = false } };
        await using var deviceSide = new SerialPortClient(Options(pty.A));
        await using var hostSide = new SerialPortClient(Options(pty.B));
        var device = new RpcClient(deviceSide).Bind("read_sensor", (int channel) => channel * 1.5);
        var host = new RpcClient(hostSide).Bind("hello", () => "host");

        await deviceSide.Open().First("the device side");
        await hostSide.Open().First("the host side");

        Assert.Equal(4.5, await host.Call<double>("read_sensor", 3).Timeout(Wait.Long));
        Assert.Equal("host", await device.Call<string>("hello").Timeout(Wait.Long));
    }
}
