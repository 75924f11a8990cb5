using System.Net;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>Datagram size limits of UDP.</summary>
public static class UdpLimits
{
    /// <summary>The largest UDP payload over IPv4: 65 535 − 20 (IP header) − 8 (UDP header) = 65 507 bytes.</summary>
    public const int MaxIPv4Payload = 65_507;

    /// <summary>The largest UDP payload over IPv6 without jumbograms: 65 535 − 8 = 65 527 bytes.</summary>
    public const int MaxIPv6Payload = 65_527;
}

/// <summary>Settings shared by <see cref="UdpServerOptions"/> and <see cref="UdpClientOptions"/>.</summary>
/// <remarks>
/// UDP sessions are message sessions: every <c>Send</c> is one datagram and every received datagram is one frame.
/// <see cref="SessionOptions.Framing"/> is not used. UDP has no flow control, so receive back-pressure drops:
/// a datagram that arrives while more than <see cref="SessionOptions.MaxPendingReceiveBytes"/> wait for a session's
/// subscribers is dropped and counted, as the kernel drops datagrams when a socket's buffer is full.
/// </remarks>
public abstract class UdpSocketOptions : SessionOptions
{
    private int _maxDatagramSize = UdpLimits.MaxIPv4Payload;

    /// <summary>The largest datagram sent or received, in bytes. Larger sends are refused with
    /// <see cref="SendRejection.TooLarge"/>; larger received datagrams are dropped and counted. Defaults to 65 507, the
    /// IPv4 maximum; lower it to stay under the path MTU (1 472 bytes on Ethernet avoids IP fragmentation).</summary>
    public int MaxDatagramSize
    {
        get => _maxDatagramSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, UdpLimits.MaxIPv6Payload); _maxDatagramSize = value; }
    }

    /// <summary>The socket's kernel receive buffer (SO_RCVBUF), or null for the operating system's default. Defaults to
    /// null. Raise it for bursts: datagrams that do not fit are dropped by the kernel.</summary>
    public int? SocketReceiveBufferSize { get; set; }

    /// <summary>The socket's kernel send buffer (SO_SNDBUF), or null for the operating system's default. Defaults to null.</summary>
    public int? SocketSendBufferSize { get; set; }

    internal DatagramSocketSettings ResolveSocket(bool dualMode = true) => new(SocketReceiveBufferSize, SocketSendBufferSize, dualMode);
}

/// <summary>Settings of a <see cref="UdpServer"/>.</summary>
public class UdpServerOptions : UdpSocketOptions
{
    private int _maxSessions = 10_000;
    private TimeSpan? _unconfirmedSilenceTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Creates the options with the UDP server defaults: a 60 s <see cref="SessionOptions.SilenceTimeout"/>
    /// (5 s until the peer's second datagram, see <see cref="UnconfirmedSilenceTimeout"/>) and at most 10 000 sessions.</summary>
    public UdpServerOptions()
    {
        // A remote endpoint has no way to say it left: sessions that stay silent this long are reaped (asio2's 60 s).
        SilenceTimeout = TimeSpan.FromSeconds(60);
    }

    /// <summary>Sessions (remote endpoints) beyond this many are not created: their datagrams are dropped and counted.
    /// Defaults to 10 000: one datagram per spoofed source port must not grow memory without bound.</summary>
    public int MaxSessions
    {
        get => _maxSessions;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxSessions = value; }
    }

    /// <summary>The silence timeout of a session whose peer has sent one datagram only (UDP's nearest thing to an
    /// unfinished handshake: a spoofed or scanning source sends one and never answers). From the second datagram on,
    /// <see cref="SessionOptions.SilenceTimeout"/> applies. Defaults to 5 s; null to use the silence timeout throughout.</summary>
    public TimeSpan? UnconfirmedSilenceTimeout
    {
        get => _unconfirmedSilenceTimeout;
        set
        {
            if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            _unconfirmedSilenceTimeout = value;
        }
    }

    /// <summary>When listening on an IPv6 address, accept IPv4 peers too. Defaults to true.</summary>
    public bool DualMode { get; set; } = true;
}

/// <summary>Settings of a <see cref="UdpClient"/>.</summary>
public class UdpClientOptions : UdpSocketOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long resolving the host name and opening the socket may take. A UDP "connect" sends nothing, so
    /// it fails only when the name does not resolve or no route exists. Defaults to 5 s.</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _connectTimeout = value; }
    }

    /// <summary>Reconnection policy, used when the connection ends for a reason other than a local close (a silence
    /// timeout, for example). Defaults to enabled, 1 s doubling up to 30 s.</summary>
    public ReconnectOptions Reconnect { get; set; } = new();
}

/// <summary>Settings of a connectionless <see cref="UdpEndpoint"/>.</summary>
public class UdpEndpointOptions
{
    private int _maxDatagramSize = UdpLimits.MaxIPv4Payload;
    private int _maxPendingReceiveBytes = 1024 * 1024;
    private int _multicastTimeToLive = 1;

    /// <summary>The largest datagram sent or received, in bytes. Larger sends throw <see cref="SendRejectedException"/>
    /// (<see cref="SendRejection.TooLarge"/>); larger received datagrams are dropped and counted. Defaults to 65 507.</summary>
    public int MaxDatagramSize
    {
        get => _maxDatagramSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, UdpLimits.MaxIPv6Payload); _maxDatagramSize = value; }
    }

    /// <summary>Bytes of received datagrams waiting for <see cref="UdpEndpoint.Received"/> subscribers; datagrams arriving
    /// past it are dropped and counted. Defaults to 1 MiB.</summary>
    public int MaxPendingReceiveBytes
    {
        get => _maxPendingReceiveBytes;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxPendingReceiveBytes = value; }
    }

    /// <summary>The schedulers to pick the endpoint's scheduler from. Defaults to <see cref="SchedulerPool.Shared"/>.</summary>
    public SchedulerPool? Schedulers { get; set; }

    /// <summary>The socket's kernel receive buffer (SO_RCVBUF), or null for the system default. Defaults to null.</summary>
    public int? SocketReceiveBufferSize { get; set; }

    /// <summary>The socket's kernel send buffer (SO_SNDBUF), or null for the system default. Defaults to null.</summary>
    public int? SocketSendBufferSize { get; set; }

    /// <summary>When bound to an IPv6 address, also talk to IPv4 peers. Defaults to true.</summary>
    public bool DualMode { get; set; } = true;

    /// <summary>Let several sockets bind the same port (SO_REUSEADDR), as multicast receivers on one host do.
    /// Defaults to false.</summary>
    public bool ReuseAddress { get; set; }

    /// <summary>Allow sending to broadcast addresses (SO_BROADCAST). Defaults to false.</summary>
    public bool EnableBroadcast { get; set; }

    /// <summary>Deliver multicast datagrams this socket sends to members on this host too (IP_MULTICAST_LOOP).
    /// Defaults to true, the operating system's default.</summary>
    public bool MulticastLoopback { get; set; } = true;

    /// <summary>Hops a multicast datagram may take (IP_MULTICAST_TTL). Defaults to 1: the local network only.</summary>
    public int MulticastTimeToLive
    {
        get => _multicastTimeToLive;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 0); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 255); _multicastTimeToLive = value; }
    }

    /// <summary>The local IPv4 address whose interface sends multicast datagrams (IP_MULTICAST_IF), or null for the
    /// routing table's choice. Defaults to null. Set it to <see cref="IPAddress.Loopback"/> to multicast on loopback.</summary>
    public IPAddress? MulticastInterface { get; set; }

    /// <summary>Where socket failures and handler faults are logged. Defaults to null (no logging).</summary>
    public ILogger? Logger { get; set; }
}
