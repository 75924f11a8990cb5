using System.Net;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// What every server has, whatever its transport: the <see cref="Sessions"/> stream, lookup, broadcast, start on a
/// host and port, and a graceful stop. <see cref="TcpServer"/>, <see cref="UdpServer"/> and <see cref="KcpServer"/>
/// are servers of this kind.
/// </summary>
/// <remarks>
/// <see cref="Sessions"/> is hot: a subscriber sees sessions that start after it subscribed. Each session starts
/// reading only after its notification returned, so <c>Sessions.SelectMany(s =&gt; s.Frames)</c> sees every frame.
/// Notifications are serialized (one at a time). <see cref="Sessions"/> completes when the server stops and errors
/// only if the server's own socket fails.
/// </remarks>
public abstract class SessionServer : IDisposable, IAsyncDisposable
{
    private protected SessionServer(SessionSettings settings)
    {
        Settings = settings;
        Registry = new SessionRegistry(settings, settings.Schedulers);
    }

    internal SessionSettings Settings { get; }

    internal SessionRegistry Registry { get; }

    /// <summary>Sessions, hot. Completes on stop; errors only when the server's socket fails.</summary>
    public IObservable<Session> Sessions => Registry.Sessions;

    /// <summary>The bound address, once started.</summary>
    public abstract IPEndPoint? LocalEndPoint { get; }

    /// <summary>Sessions open now.</summary>
    public int SessionCount => Registry.Count;

    /// <summary>A snapshot of the open sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => Registry.GetSessions();

    /// <summary>The open session with this id, or null.</summary>
    public Session? FindSession(long id) => Registry.Find(id);

    /// <summary>Sends the bytes as one frame (one datagram, one message) to every open session; returns how many accepted them.</summary>
    public int Broadcast(ReadOnlySpan<byte> data) => Registry.Broadcast(data);

    /// <summary>Sends the UTF-8 text to every open session; returns how many accepted it.</summary>
    public int Broadcast(string text) => Registry.Broadcast(Encoding.UTF8.GetBytes(text));

    /// <summary>Starts on <paramref name="host"/> (an address or a name; "" or "*" for every interface) and
    /// <paramref name="port"/> (0 picks a free port). Returns the bound endpoint.</summary>
    public IPEndPoint Start(string host, int port) => Start(new IPEndPoint(ResolveListenAddress(host), port));

    /// <summary>Starts on every interface (IPv6 and IPv4) on <paramref name="port"/>.</summary>
    public IPEndPoint Start(int port) => Start(new IPEndPoint(IPAddress.IPv6Any, port));

    /// <summary>Starts on <paramref name="endPoint"/>. Returns the bound endpoint (with the real port when 0 was asked).</summary>
    public abstract IPEndPoint Start(IPEndPoint endPoint);

    /// <summary>
    /// Stops accepting, closes every session gracefully (queued sends are flushed within the drain timeout), waits for
    /// their streams to complete, then completes <see cref="Sessions"/>. Safe to call more than once, from any thread,
    /// including a handler on a session's scheduler (await it there; do not block on it). Never faults: a listener
    /// failure was reported on <see cref="Sessions"/> already.
    /// </summary>
    public abstract Task StopAsync();

    /// <summary>Starts <see cref="StopAsync"/> and returns at once: it never blocks on the network or on a scheduler,
    /// so it is safe anywhere (a frame handler, a <c>TestScheduler</c>). <see cref="Sessions"/> completes when the stop
    /// is done; await <see cref="DisposeAsync"/> or <see cref="StopAsync"/> to wait for it.</summary>
    public void Dispose() => _ = StopAsync();

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());

    /// <summary>An address to listen on: "" or "*" for every interface, an address, or a host name.</summary>
    internal static IPAddress ResolveListenAddress(string host)
    {
        if (string.IsNullOrEmpty(host) || host == "*") return IPAddress.IPv6Any;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return Dns.GetHostAddresses(host).First();
    }
}
