using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>
/// A UDP server: one socket, and a <see cref="Session"/> per remote endpoint, announced on <see cref="SessionServer.Sessions"/> before
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
/// <para><see cref="SessionServer.Sessions"/> is hot and serialized; it completes on stop and errors only if the socket fails.
/// Datagrams that cannot be served (a new endpoint past <see cref="UdpServerOptions.MaxSessions"/>, an oversize
/// datagram, a session whose subscribers lag) are dropped and counted in <see cref="DroppedDatagrams"/> and on the
/// <c>asio2rx.dropped</c> meter. ICMP errors never end the receive loop.</para>
/// </remarks>
public sealed class UdpServer : SessionServer
{
    private readonly UdpServerOptions _options;
    private readonly Core _core;

    /// <summary>Creates a server; nothing is bound until <see cref="Start(IPEndPoint)"/>.</summary>
    public UdpServer(UdpServerOptions? options = null)
        : this(options ?? new UdpServerOptions(), 0)
    {
    }

    private UdpServer(UdpServerOptions options, int _)
        : base(options.Resolve("udp"))
    {
        _options = options;
        _core = new Core(Registry, Settings, options.MaxSessions, options.MaxDatagramSize, options.UnconfirmedSilenceTimeout);
    }

    /// <inheritdoc/>
    public override IPEndPoint? LocalEndPoint => _core.LocalEndPoint;

    /// <summary>Datagrams dropped so far (see the remarks for why a datagram is dropped).</summary>
    public long DroppedDatagrams => _core.Drops.Count;

    /// <summary>The counter behind <see cref="DroppedDatagrams"/> (tests await its drops).</summary>
    internal DropCounter Drops => _core.Drops;

    /// <summary>The open session of this remote endpoint, or null.</summary>
    public Session? FindSession(IPEndPoint remote) => _core.FindSession(remote);

    /// <summary>Binds <paramref name="endPoint"/> and starts receiving. Returns the bound endpoint.</summary>
    public override IPEndPoint Start(IPEndPoint endPoint) => _core.Start(endPoint, _options.ResolveSocket(_options.DualMode));

    /// <summary>Serves on an in-process channel (tests in virtual time).</summary>
    internal IPEndPoint Start(DatagramChannel channel) => _core.Start(channel);

    /// <summary>
    /// Stops: closes every session gracefully (queued datagrams are sent within the drain timeout), waits for their
    /// streams to complete, closes the socket, then completes <see cref="SessionServer.Sessions"/>. Safe to call more than once.
    /// </summary>
    public override Task StopAsync() => _core.StopAsync();

    private sealed class Core(SessionRegistry registry, SessionSettings settings, int maxSessions, int maxDatagramSize, TimeSpan? unconfirmedSilenceTimeout)
        : DatagramServerCore(registry, settings, maxSessions)
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
                Settings, Settings.Schedulers.Next(), unconfirmedSilenceTimeout);
            if (Accept(key, session, forgetAddressOnFinish: true)) session.OnDatagram(datagram);
        }
    }
}
