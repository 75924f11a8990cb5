using System.Net;

namespace Asio2.Rx;

/// <summary>
/// A connected UDP client: one socket that sends to and receives from one server. Every <c>Send</c> is one datagram;
/// every datagram from the server is one frame on <see cref="ReconnectingClient.Frames"/>.
/// </summary>
/// <example>
/// <code>
/// await using var client = new UdpClient();
/// client.Frames.Subscribe(f => Console.WriteLine(f.Text));
/// await client.Connect("127.0.0.1", port);
/// await client.Send("hello");
/// </code>
/// </example>
/// <remarks>
/// Connecting sends nothing (UDP has no handshake): it resolves the name and opens a socket connected to the server,
/// so the kernel drops datagrams from anyone else. An ICMP "port unreachable" (no server yet) does not end the
/// connection; datagrams simply get no answer. The connection ends on <c>DisconnectAsync</c> or, if set, the silence
/// timeout, after which the client reconnects per <see cref="UdpClientOptions.Reconnect"/>.
/// </remarks>
public sealed class UdpClient : NetworkClient
{
    private readonly UdpClientOptions _options;
    private readonly DropCounter _drops;

    /// <summary>Creates a client; nothing happens until <see cref="NetworkClient.Connect(string, int)"/>.</summary>
    public UdpClient(UdpClientOptions? options = null)
        : this(options ?? new UdpClientOptions(), 0)
    {
    }

    private UdpClient(UdpClientOptions options, int _)
        : base(options.Resolve("udp"), options.ConnectTimeout, options.Reconnect)
    {
        _options = options;
        _drops = new DropCounter("udp", Settings.Metrics);
        ChannelFactory = static (remote, o) => SocketDatagramChannel.Connect(remote, "udp", o.ResolveSocket(), o.Logger, Asio2Metrics.For(o.MeterFactory));
    }

    /// <summary>Opens the channel to a resolved endpoint. Replaced in tests to run in virtual time.</summary>
    internal Func<IPEndPoint, UdpClientOptions, DatagramChannel> ChannelFactory { get; set; }

    /// <summary>Datagrams dropped so far: larger than <see cref="UdpSocketOptions.MaxDatagramSize"/>, or arriving while
    /// subscribers lag by more than <see cref="SessionOptions.MaxPendingReceiveBytes"/>.</summary>
    public long DroppedDatagrams => _drops.Count;

    private protected override async ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken)
    {
        var remote = await DatagramEndPoints.ResolveAsync(Target!, cancellationToken).ConfigureAwait(false);
        var channel = ChannelFactory(remote, _options);
        // The client's channel has one peer: every datagram is the session's, and the session starts the channel.
        return new UdpSession(channel, remote.Serialize(), remote, ownsChannel: true, _options.MaxDatagramSize, _drops, Settings, Scheduler);
    }
}

/// <summary>Name resolution for datagram clients.</summary>
internal static class DatagramEndPoints
{
    /// <summary>The endpoint itself, or the first address a <see cref="DnsEndPoint"/> resolves to.</summary>
    public static async ValueTask<IPEndPoint> ResolveAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        switch (endPoint)
        {
            case IPEndPoint ip:
                return ip;
            case DnsEndPoint dns:
                var addresses = await Dns.GetHostAddressesAsync(dns.Host, dns.AddressFamily, cancellationToken).ConfigureAwait(false);
                if (addresses.Length == 0) throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound);
                return new IPEndPoint(addresses[0], dns.Port);
            default:
                throw new ArgumentException($"Unsupported endpoint type {endPoint.GetType().Name}.", nameof(endPoint));
        }
    }
}
