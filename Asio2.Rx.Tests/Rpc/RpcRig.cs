using System.Net;
using System.Reactive.Linq;
using Asio2.Rx.Tests.Secure;
using MessagePack;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>asio2's README user type: members in [Key] order are the C++ struct's serialize() order.</summary>
[MessagePackObject]
public sealed class User
{
    [Key(0)] public string Name { get; set; } = "";
    [Key(1)] public int Age { get; set; }
    [Key(2)] public Dictionary<int, string> Purview { get; set; } = new();
}

/// <summary>The transports RPC runs on in these tests.</summary>
public enum RpcTransport
{
    Memory,
    Tcp,
    TcpDatagram,
    Tls,
    Kcp,
}

/// <summary>
/// Two connected RPC peers over a real transport on loopback (or an in-memory pair): a server and a client, each with
/// its own bindings, so both sides bind and both sides call.
/// </summary>
internal sealed class RpcRig : IAsyncDisposable
{
    /// <summary>Frames up to 16 MiB, so a 10 MiB payload fits.</summary>
    public const int MaxFrame = 16 * 1024 * 1024;

    private readonly List<IAsyncDisposable> _owned = new();

    private RpcRig() { }

    /// <summary>The server side's peer for the (only) connection.</summary>
    public RpcPeer ServerPeer { get; private set; } = null!;

    /// <summary>The client side's peer.</summary>
    public RpcPeer ClientPeer { get; private set; } = null!;

    public RpcServer? Server { get; private set; }
    public SessionServer? Listener { get; private set; }

    public static async Task<RpcRig> Start(RpcTransport transport, Action<RpcBindings> bindServer, Action<RpcBindings>? bindClient = null,
        RpcOptions? options = null, int maxFrame = MaxFrame)
    {
        var rig = new RpcRig();
        options ??= new RpcOptions();
        Framing framing = transport == RpcTransport.TcpDatagram || options.Protocol == RpcProtocol.Asio2
            ? Framing.Datagram(maxFrame) : Framing.MessagePackObject(maxFrame);
        if (transport == RpcTransport.Memory)
        {
            var pair = InMemory.CreatePair(new SessionOptions { Framing = framing });
            var server = new RpcBindings(options);
            var client = new RpcBindings(options);
            bindServer(server);
            bindClient?.Invoke(client);
            rig.ServerPeer = server.Attach(pair.A);
            rig.ClientPeer = client.Attach(pair.B);
            pair.Start();
            rig._owned.Add(new AsyncDisposer(() => { pair.A.Close(); pair.B.Close(); }));
            return rig;
        }

        SessionServer listener;
        ReconnectingClient tcpOrKcp;
        if (transport == RpcTransport.Kcp)
        {
            listener = new KcpServer(new KcpServerOptions { StreamMode = true, Framing = framing });
            tcpOrKcp = new KcpClient(new KcpClientOptions { StreamMode = true, Framing = framing, Reconnect = { Enabled = false } });
        }
        else
        {
            var tls = transport == RpcTransport.Tls;
            listener = new TcpServer(new TcpServerOptions { Framing = framing, Tls = tls ? TlsKit.ServerOptions() : null });
            tcpOrKcp = new TcpClient(new TcpClientOptions { Framing = framing, Tls = tls ? TlsKit.ClientOptions() : null, Reconnect = { Enabled = false } });
        }
        rig._owned.Add(listener);
        rig._owned.Add(tcpOrKcp);
        rig.Listener = listener;
        rig.Server = new RpcServer(listener, options);
        bindServer(rig.Server.Bindings);
        var serverPeer = rig.Server.Peers.First("the server's peer");
        var bound = listener.Start("127.0.0.1", 0);
        var rpcClient = new RpcClient(tcpOrKcp, options);
        bindClient?.Invoke(rpcClient.Bindings);
        var clientPeer = rpcClient.Peers.First("the client's peer");
        await (tcpOrKcp is NetworkClient nc ? nc.Connect(bound) : throw new InvalidOperationException()).First("the connection");
        rig.ClientPeer = await clientPeer;
        rig.ServerPeer = await serverPeer;
        return rig;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(_owned)) await d.DisposeAsync();
    }

    private sealed class AsyncDisposer(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return default;
        }
    }
}

/// <summary>Functions the round-trip tests bind: each echoes its argument with its declared type.</summary>
internal static class EchoFunctions
{
    public static void Bind(RpcBindings b)
    {
        b.Bind("add", (int a, int b) => a + b)
         .Bind("echo_int", (int x) => x)
         .Bind("echo_long", (long x) => x)
         .Bind("echo_ulong", (ulong x) => x)
         .Bind("echo_double", (double x) => x)
         .Bind("echo_float", (float x) => x)
         .Bind("echo_bool", (bool x) => x)
         .Bind("echo_byte", (byte x) => x)
         .Bind("echo_short", (short x) => x)
         .Bind("echo_string", (string x) => x)
         .Bind("echo_bytes", (byte[] x) => x)
         .Bind("echo_ints", (int[] x) => x)
         .Bind("echo_strings", (List<string> x) => x)
         .Bind("echo_map", (Dictionary<int, string> x) => x)
         .Bind("echo_user", (User u) => u)
         .Bind("echo_users", (List<User> u) => u);
        if (b.Protocol == RpcProtocol.MessagePackRpc) b.Bind("echo_nullable", (string? s) => s);
    }
}
