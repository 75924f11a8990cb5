using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>
/// A UDP server: one socket, and a <see cref="Session"/> per remote endpoint, announced on <see cref="Sessions"/> before
/// its first datagram is delivered. Every datagram is one frame; every <c>Send</c> is one datagram.
/// </summary>
/// <example>
/// <code>
/// await using var server = new UdpServer();
/// server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)); // echo
/// IPEndPoint bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// <para>UDP has no connection: a session starts with the first datagram from a new endpoint and ends when nothing
/// arrived from it for <see cref="SessionOptions.SilenceTimeout"/> (60 s by default, as asio2), on <c>Close</c>, or when
/// the server stops. A later datagram from the same endpoint starts a new session.</para>
/// <para><see cref="Sessions"/> is hot and serialized; it completes on stop and errors only if the socket fails.
/// Datagrams that cannot be served (a new endpoint past <see cref="UdpServerOptions.MaxSessions"/>, an oversize
/// datagram, a session whose subscribers lag) are dropped and counted in <see cref="DroppedDatagrams"/> and on the
/// <c>asio2rx.drops</c> meter. ICMP errors never end the receive loop.</para>
/// </remarks>
public sealed class UdpServer : IDisposable, IAsyncDisposable
{
    private readonly UdpServerOptions _options;
    private readonly Core _core;

    /// <summary>Creates a server; nothing is bound until <see cref="Start(IPEndPoint)"/>.</summary>
    public UdpServer(UdpServerOptions? options = null)
    {
        _options = options ?? new UdpServerOptions();
        _core = new Core(_options.Resolve("udp"), _options.MaxSessions, _options.MaxDatagramSize);
    }

    /// <summary>Sessions, one per remote endpoint, hot. Completes on stop; errors only when the socket fails.</summary>
    public IObservable<Session> Sessions => _core.Sessions;

    /// <summary>The bound address, once started.</summary>
    public IPEndPoint? LocalEndPoint => _core.LocalEndPoint;

    /// <summary>Sessions open now.</summary>
    public int SessionCount => _core.SessionCount;

    /// <summary>Datagrams dropped so far (see the remarks for why a datagram is dropped).</summary>
    public long DroppedDatagrams => _core.Drops.Count;

    /// <summary>A snapshot of the open sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => _core.GetSessions();

    /// <summary>The open session with this id, or null.</summary>
    public Session? FindSession(long id) => _core.FindSession(id);

    /// <summary>The open session of this remote endpoint, or null.</summary>
    public Session? FindSession(IPEndPoint remote) => _core.FindSession(remote);

    /// <summary>Sends the bytes as one datagram to every open session; returns how many accepted it.</summary>
    public int Broadcast(ReadOnlySpan<byte> data) => _core.Broadcast(data);

    /// <summary>Sends the UTF-8 text as one datagram to every open session; returns how many accepted it.</summary>
    public int Broadcast(string text) => _core.Broadcast(text);

    /// <summary>Binds <paramref name="host"/> (an address or a name; "" or "*" for every interface) and
    /// <paramref name="port"/> (0 picks a free port). Returns the bound endpoint.</summary>
    public IPEndPoint Start(string host, int port) => Start(new IPEndPoint(DatagramServerCore.ResolveListenAddress(host), port));

    /// <summary>Binds every interface (IPv6 and IPv4) on <paramref name="port"/>.</summary>
    public IPEndPoint Start(int port) => Start(new IPEndPoint(IPAddress.IPv6Any, port));

    /// <summary>Binds <paramref name="endPoint"/> and starts receiving. Returns the bound endpoint.</summary>
    public IPEndPoint Start(IPEndPoint endPoint) => _core.Start(endPoint, _options.ResolveSocket(_options.DualMode));

    /// <summary>Serves on an in-process channel (tests in virtual time).</summary>
    internal IPEndPoint Start(DatagramChannel channel) => _core.Start(channel);

    /// <summary>
    /// Stops: closes every session gracefully (queued datagrams are sent within the drain timeout), waits for their
    /// streams to complete, closes the socket, then completes <see cref="Sessions"/>. Safe to call more than once.
    /// </summary>
    public Task StopAsync() => _core.StopAsync();

    /// <summary>Same as <see cref="StopAsync"/>, blocking until it finishes.</summary>
    public void Dispose() => StopAsync().GetAwaiter().GetResult();

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());

    private sealed class Core(SessionSettings settings, int maxSessions, int maxDatagramSize) : DatagramServerCore(settings, maxSessions)
    {
        protected override void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
        {
            if (Lookup(source) is UdpSession { IsOpen: true } known)
            {
                known.OnDatagram(datagram);
                return;
            }
            if (datagram.Length > maxDatagramSize)
            {
                Drops.Drop("datagram_too_large");
                return;
            }
            if (!HasRoom()) return;
            var key = DatagramChannel.Copy(source);
            var session = new UdpSession(Channel, key, DatagramChannel.ToEndPoint(key), ownsChannel: false, maxDatagramSize, Drops,
                Settings, Settings.Schedulers.Next());
            if (Accept(key, session, forgetAddressOnFinish: true)) session.OnDatagram(datagram);
        }
    }
}
