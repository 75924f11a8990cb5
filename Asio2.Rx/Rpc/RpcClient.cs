using System.Reactive;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Asio2.Rx;

/// <summary>
/// RPC over a client's connections (TCP, TLS, KCP, UDP, serial): calls go to the current connection, and the functions
/// bound here serve the server's calls. Reconnects get a new peer; calls pending on a connection that ended fail with
/// <see cref="RpcErrorKind.ConnectionLost"/>.
/// </summary>
/// <example>
/// <code>
/// await using var tcp = new TcpClient(new TcpClientOptions { Framing = Framing.MessagePackObject() });
/// var rpc = new RpcClient(tcp);
/// await tcp.Connect("127.0.0.1", port);
/// int sum = await rpc.Call&lt;int&gt;("add", 1, 2).Timeout(TimeSpan.FromSeconds(3));
/// </code>
/// </example>
/// <remarks>Create it before connecting, so the first connection gets its peer before it reads.</remarks>
public sealed class RpcClient : IDisposable
{
    private readonly Subject<RpcPeer> _peerStream = new();
    private readonly IDisposable _subscription;
    private RpcPeer? _peer;

    /// <summary>Runs RPC over <paramref name="client"/>'s connections.</summary>
    /// <exception cref="ArgumentException">The client's framing cannot carry the wire (see <see cref="RpcBindings.Attach"/>).</exception>
    public RpcClient(ReconnectingClient client, RpcOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        Client = client;
        Bindings = new RpcBindings(options);
        Bindings.CheckFraming(client.Settings);
        _subscription = client.Connections.Subscribe(OnConnection, _peerStream.OnError, _peerStream.OnCompleted);
    }

    /// <summary>The client whose connections it runs over (its lifetime is the app's: connect and dispose it there).</summary>
    public ReconnectingClient Client { get; }

    /// <summary>The functions this client serves to the server.</summary>
    public RpcBindings Bindings { get; }

    /// <summary>The current connection's peer, or null between connections.</summary>
    public RpcPeer? Peer => Volatile.Read(ref _peer) is { Session.IsOpen: true } p ? p : null;

    /// <summary>A peer for each connection, hot.</summary>
    public IObservable<RpcPeer> Peers => _peerStream.AsObservable();

    /// <summary>Binds a function the server may call; see <see cref="RpcBindings.Bind"/>.</summary>
    public RpcClient Bind(string name, Delegate function)
    {
        Bindings.Bind(name, function);
        return this;
    }

    /// <summary>Calls on the connection current at subscription; see <see cref="RpcPeer.Call{T}"/>. Fails with
    /// <see cref="RpcErrorKind.ConnectionLost"/> while not connected.</summary>
    public IObservable<T> Call<T>(string method, params object?[] args)
    {
        Check(method, args);
        Bindings.Settings.Wire.CheckType(typeof(T));
        return Observable.Defer(() => Peer is { } p ? p.Call<T>(method, args) : NotConnected<T>(method));
    }

    /// <summary>Calls a function that returns nothing; see <see cref="RpcPeer.Call(string, object?[])"/>.</summary>
    public IObservable<Unit> Call(string method, params object?[] args)
    {
        Check(method, args);
        return Observable.Defer(() => Peer is { } p ? p.Call(method, args) : NotConnected<Unit>(method));
    }

    /// <summary>A streamed call; see <see cref="RpcPeer.Stream{T}"/>.</summary>
    public IObservable<T> Stream<T>(string method, params object?[] args)
    {
        Check(method, args);
        if (Bindings.Protocol != RpcProtocol.MessagePackRpc) throw new NotSupportedException("streamed results are an extension of MessagePack-RPC; asio2's wire has none");
        return Observable.Defer(() => Peer is { } p ? p.Stream<T>(method, args) : NotConnected<T>(method));
    }

    /// <summary>Sends a notification on the current connection; rejected with <see cref="SendRejection.NotConnected"/> between connections.</summary>
    public SendResult Notify(string method, params object?[] args) =>
        Peer is { } p ? p.Notify(method, args) : SendResult.Failed(new SendRejectedException(SendRejection.NotConnected, "the client is not connected"));

    /// <summary>Stops attaching peers to new connections. The client's lifetime stays with the client.</summary>
    public void Dispose() => _subscription.Dispose();

    private void Check(string method, object?[] args)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(args);
        foreach (var arg in args)
            if (arg is not null) Bindings.Settings.Wire.CheckType(arg.GetType());
    }

    private static IObservable<T> NotConnected<T>(string method) =>
        Observable.Throw<T>(new RpcException(RpcErrorKind.ConnectionLost, $"'{method}' was not sent: the client is not connected"));

    private void OnConnection(Session session)
    {
        var peer = Bindings.Attach(session);
        Volatile.Write(ref _peer, peer);
        _peerStream.OnNext(peer);
    }
}
