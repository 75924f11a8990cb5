using System.Reactive.Linq;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>Values of every supported kind survive a call and its response, on every transport and both wires.</summary>
public sealed class RpcRoundTripTests
{
    public static TheoryData<RpcTransport, RpcProtocol> Cases()
    {
        var data = new TheoryData<RpcTransport, RpcProtocol>();
        foreach (var t in Enum.GetValues<RpcTransport>())
        {
            data.Add(t, RpcProtocol.MessagePackRpc);
            if (t != RpcTransport.TcpDatagram) data.Add(t, RpcProtocol.Asio2);
        }
        return data;
    }

    private static RpcOptions Options(RpcProtocol protocol) => new() { Protocol = protocol, DefaultTimeout = TimeSpan.FromSeconds(60) };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryValueKind_RoundTrips(RpcTransport transport, RpcProtocol protocol)
    {
        await using var rig = await RpcRig.Start(transport, EchoFunctions.Bind, options: Options(protocol));
        var peer = rig.ClientPeer;

        Assert.Equal(3, await peer.Call<int>("add", 1, 2));
        Assert.Equal(int.MinValue, await peer.Call<int>("echo_int", int.MinValue));
        Assert.Equal(long.MaxValue, await peer.Call<long>("echo_long", long.MaxValue));
        Assert.Equal(ulong.MaxValue, await peer.Call<ulong>("echo_ulong", ulong.MaxValue));
        Assert.Equal(-1.5e300, await peer.Call<double>("echo_double", -1.5e300));
        Assert.Equal(3.25f, await peer.Call<float>("echo_float", 3.25f));
        Assert.True(await peer.Call<bool>("echo_bool", true));
        Assert.Equal((byte)255, await peer.Call<byte>("echo_byte", (byte)255));
        Assert.Equal((short)-7, await peer.Call<short>("echo_short", (short)-7));
        Assert.Equal("héllo, 世界", await peer.Call<string>("echo_string", "héllo, 世界"));
        Assert.Equal("", await peer.Call<string>("echo_string", ""));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, await peer.Call<byte[]>("echo_bytes", new byte[] { 0, 1, 2, 255 }));
        Assert.Equal(new[] { 1, -2, 3 }, await peer.Call<int[]>("echo_ints", new[] { 1, -2, 3 }));
        Assert.Equal(new List<string> { "a", "bb", "" }, await peer.Call<List<string>>("echo_strings", new List<string> { "a", "bb", "" }));
        var map = new Dictionary<int, string> { [20] = "set", [10] = "get" };
        Assert.Equal(map, await peer.Call<Dictionary<int, string>>("echo_map", map));
        var user = new User { Name = "lilei", Age = 32, Purview = { [1] = "read", [2] = "write" } };
        var back = await peer.Call<User>("echo_user", user);
        Assert.Equal((user.Name, user.Age), (back.Name, back.Age));
        Assert.Equal(user.Purview, back.Purview);
        var users = await peer.Call<List<User>>("echo_users", new List<User> { user, new() { Name = "hanmeimei", Age = 21 } });
        Assert.Equal(new[] { "lilei", "hanmeimei" }, users.Select(u => u.Name));
        if (protocol == RpcProtocol.MessagePackRpc) Assert.Null(await peer.Call<string?>("echo_nullable", (object?)null));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TenMiBPayload_RoundTrips(RpcTransport transport, RpcProtocol protocol)
    {
        await using var rig = await RpcRig.Start(transport, EchoFunctions.Bind, options: Options(protocol));
        var payload = new byte[10 * 1024 * 1024];
        new Random(11).NextBytes(payload);

        var back = await rig.ClientPeer.Call<byte[]>("echo_bytes", payload);

        Assert.Equal(payload, back);
    }

    [Theory]
    [InlineData(RpcTransport.Tcp, RpcProtocol.MessagePackRpc)]
    [InlineData(RpcTransport.Tcp, RpcProtocol.Asio2)]
    [InlineData(RpcTransport.Kcp, RpcProtocol.MessagePackRpc)]
    public async Task ServerCallsClient_BothSidesBindAndCall(RpcTransport transport, RpcProtocol protocol)
    {
        await using var rig = await RpcRig.Start(transport, EchoFunctions.Bind,
            c => c.Bind("ping", () => "pong").Bind("whoami", (Session s) => s.Transport), Options(protocol));

        Assert.Equal("pong", await rig.ServerPeer.Call<string>("ping"));
        Assert.Equal(rig.ClientPeer.Session.Transport, await rig.ServerPeer.Call<string>("whoami"));
        Assert.Equal(5, await rig.ClientPeer.Call<int>("add", 2, 3));
        var all = await rig.Server!.CallAll<string>("ping").ToList();
        Assert.Equal("pong", Assert.Single(all).Value);
    }
}
