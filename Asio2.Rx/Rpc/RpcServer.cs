using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Asio2.Rx;

/// <summary>A result of <see cref="RpcServer.CallAll{T}"/> from one peer: its value, or the error its call ended with.</summary>
/// <param name="Peer">The peer that answered.</param>
/// <param name="Value">The result when <paramref name="Error"/> is null.</param>
/// <param name="Error">Why this peer's call failed, or null.</param>
public readonly record struct RpcReply<T>(RpcPeer Peer, T? Value, RpcException? Error);

/// <summary>
/// RPC on every session of a server (TCP, TLS, KCP, UDP, ...): bound functions serve every session, and the server
/// calls one session (<see cref="FindPeer(Session)"/>) or all (<see cref="CallAll{T}"/>, <see cref="NotifyAll"/>).
/// </summary>
/// <example>
/// <code>
/// await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.MessagePackObject() });
/// var rpc = new RpcServer(tcp).Bind("add", (int a, int b) => a + b);
/// tcp.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>Create it before starting the server, so every session gets its peer before it reads. The server's lifetime
/// stays with the server: stopping it closes the sessions, which fails their pending calls with
/// <see cref="RpcErrorKind.ConnectionLost"/>. <see cref="Peers"/> is hot and completes with the server's sessions.</remarks>
public sealed class RpcServer : IDisposable
{
    private readonly ConcurrentDictionary<long, RpcPeer> _peers = new();
    private readonly Subject<RpcPeer> _peerStream = new();
    private readonly IDisposable _subscription;

    /// <summary>Serves <paramref name="server"/>'s sessions with RPC.</summary>
    /// <exception cref="ArgumentException">The server's framing cannot carry the wire (see <see cref="RpcBindings.Attach"/>).</exception>
    public RpcServer(SessionServer server, RpcOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        Server = server;
        Bindings = new RpcBindings(options);
        Bindings.CheckFraming(server.Settings);
        _subscription = server.Sessions.Subscribe(OnSession, _peerStream.OnError, _peerStream.OnCompleted);
    }

    /// <summary>The server whose sessions it serves (its lifetime is the app's: start and stop it there).</summary>
    public SessionServer Server { get; }

    /// <summary>The functions this server serves.</summary>
    public RpcBindings Bindings { get; }

    /// <summary>A peer for each new session, hot, delivered before the session reads.</summary>
    public IObservable<RpcPeer> Peers => _peerStream.AsObservable();

    /// <summary>Binds a function for every session; see <see cref="RpcBindings.Bind"/>.</summary>
    public RpcServer Bind(string name, Delegate function)
    {
        Bindings.Bind(name, function);
        return this;
    }

    /// <summary>The peer of an open session, or null.</summary>
    public RpcPeer? FindPeer(Session session) => _peers.GetValueOrDefault(session.Id);

    /// <summary>The peer of the open session with this id, or null.</summary>
    public RpcPeer? FindPeer(long sessionId) => _peers.GetValueOrDefault(sessionId);

    /// <summary>A snapshot of the open sessions' peers.</summary>
    public IReadOnlyList<RpcPeer> GetPeers() => [.. _peers.Values];

    /// <summary>Calls <paramref name="method"/> on every open session; one <see cref="RpcReply{T}"/> per session (a failed
    /// call is a reply with its error, so one bad session does not hide the others), then completion.</summary>
    public IObservable<RpcReply<T>> CallAll<T>(string method, params object?[] args) =>
        Observable.Defer(() => GetPeers()
            .Select(p => p.Call<T>(method, args)
                .Select(v => new RpcReply<T>(p, v, null))
                .Catch((RpcException e) => Observable.Return(new RpcReply<T>(p, default, e))))
            .Merge());

    /// <summary>Sends a notification to every open session; returns how many accepted it.</summary>
    public int NotifyAll(string method, params object?[] args) =>
        GetPeers().Count(p => !p.Notify(method, args).IsRejected);

    /// <summary>Stops attaching peers to new sessions. Sessions already served keep their peers.</summary>
    public void Dispose() => _subscription.Dispose();

    private void OnSession(Session session)
    {
        var peer = Bindings.Attach(session);
        _peers[session.Id] = peer;
        session.Closed.Subscribe(_ => _peers.TryRemove(session.Id, out RpcPeer? _));
        _peerStream.OnNext(peer);
    }
}
