using System.Collections.Concurrent;

namespace Asio2.Rx;

/// <summary>
/// The functions one side serves, and the wire it speaks. <see cref="RpcServer"/> and <see cref="RpcClient"/> each
/// own one; use it directly to run RPC over any session (an in-memory pair, a serial port, a KCP session) with
/// <see cref="Attach"/>.
/// </summary>
/// <example>
/// <code>
/// var rpc = new RpcBindings().Bind("add", (int a, int b) => a + b);
/// var pair = InMemory.CreatePair(new SessionOptions { Framing = Framing.MessagePackObject() });
/// var served = rpc.Attach(pair.A);
/// var caller = new RpcBindings().Attach(pair.B);
/// pair.Start();
/// int sum = await caller.Call&lt;int&gt;("add", 1, 2);
/// </code>
/// </example>
/// <remarks>Binding is thread-safe and may happen at any time; a call finds the function bound when it arrives.</remarks>
public sealed class RpcBindings
{
    private readonly ConcurrentDictionary<string, RpcBinding> _functions = new(StringComparer.Ordinal);

    /// <summary>Creates an empty set of functions speaking <see cref="RpcOptions.Protocol"/>.</summary>
    public RpcBindings(RpcOptions? options = null) => Settings = (options ?? new RpcOptions()).Resolve();

    internal RpcSettings Settings { get; }

    /// <summary>The wire the peers attached from here speak.</summary>
    public RpcProtocol Protocol => Settings.Protocol;

    /// <summary>
    /// Binds <paramref name="function"/> (a lambda, a static or instance method) under <paramref name="name"/>, replacing
    /// what was bound there. Parameters of type <see cref="RpcPeer"/>, <see cref="Session"/> and <see cref="CancellationToken"/>
    /// are not read from the wire: they receive the calling peer, its session, and a token cancelled when the caller cancels
    /// or the connection ends. The function may return a value, nothing, a <see cref="Task"/>/<see cref="ValueTask"/> (with or
    /// without a value) or an <see cref="IObservable{T}"/> (streamed to <see cref="RpcPeer.Stream{T}"/>; a plain call gets its
    /// last item). Synchronous functions run on the session's scheduler.
    /// </summary>
    /// <returns>This instance, to chain binds.</returns>
    /// <exception cref="ArgumentException">The name is empty or starts with <c>$/</c> (reserved for the protocol's extensions).</exception>
    /// <exception cref="NotSupportedException">A parameter or the result cannot be carried by the wire (asio2: no mapping to cereal's
    /// portable binary; MessagePack-RPC: no formatter).</exception>
    public RpcBindings Bind(string name, Delegate function)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(function);
        if (name.StartsWith("$/", StringComparison.Ordinal)) throw new ArgumentException("names starting with \"$/\" are reserved for protocol extensions", nameof(name));
        _functions[name] = new RpcBinding(name, function, Settings.Wire);
        return this;
    }

    /// <summary>Removes the function bound under <paramref name="name"/>; calls to it are answered "method not found".</summary>
    public bool Unbind(string name) => _functions.TryRemove(name, out _);

    /// <summary>True when a function is bound under <paramref name="name"/>.</summary>
    public bool IsBound(string name) => _functions.ContainsKey(name);

    /// <summary>
    /// Runs RPC on <paramref name="session"/>: its frames are decoded as calls to these functions and responses to the
    /// returned peer's calls. Attach before the session starts reading (inside a <c>Sessions</c> or <c>Connections</c>
    /// notification, or before <see cref="InMemoryPair.Start"/>) so no message is missed.
    /// </summary>
    /// <exception cref="ArgumentException">The session's framing cannot carry this wire (stream transports need
    /// <see cref="Framing.MessagePackObject(int)"/> or <see cref="Framing.Datagram(int)"/> for MessagePack-RPC, and
    /// <see cref="Framing.Datagram(int)"/> for asio2).</exception>
    public RpcPeer Attach(Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        CheckFraming(session.Settings);
        return new RpcPeer(session, this);
    }

    internal RpcBinding? Find(string name) => _functions.GetValueOrDefault(name);

    /// <summary>Refuses a byte-stream transport whose framing cannot delimit this wire's messages.</summary>
    internal void CheckFraming(SessionSettings settings)
    {
        if (settings.Transport is not ("tcp" or "tls" or "serial" or "memory")) return; // message transports keep boundaries
        var framing = settings.Framing;
        bool fits = framing is DatagramFraming || (Protocol == RpcProtocol.MessagePackRpc && framing is MessagePackFraming);
        if (!fits)
            throw new ArgumentException(Protocol == RpcProtocol.Asio2
                ? "asio2's RPC needs Framing.Datagram() on a byte stream"
                : "MessagePack-RPC needs Framing.MessagePackObject() or Framing.Datagram() on a byte stream");
    }
}
