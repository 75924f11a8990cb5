using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>Which kind of ICMP socket a <see cref="SocketIcmpEndpoint"/> holds.</summary>
internal enum IcmpSocketKind
{
    /// <summary><c>SOCK_RAW</c>: needs privilege; sees every ICMP packet of the host.</summary>
    Raw,
    /// <summary><c>SOCK_DGRAM</c> with an ICMP protocol ("ping socket"): unprivileged where allowed; the kernel sets the identifier and filters replies by it.</summary>
    Datagram,
}

/// <summary>
/// An <see cref="IIcmpEndpoint"/> over a real socket: a raw ICMP socket when the process may open one, else a
/// datagram ICMP socket, else <see cref="IcmpUnavailableException"/>.
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Send"/> may be called from any thread (one datagram per call); the receive loop runs on
/// the thread pool and calls the receiver one packet at a time; <see cref="Dispose"/> closes the socket, which ends the loop.
/// </remarks>
internal sealed class SocketIcmpEndpoint : IIcmpEndpoint
{
    /// <summary>Creates a socket; replaced in tests to simulate a system that refuses one kind.</summary>
    internal delegate Socket SocketFactory(AddressFamily family, SocketType type, ProtocolType protocol);

    /// <summary>The largest IPv4 datagram; IPv6 sockets deliver no header, so their largest message fits too.
    /// A smaller buffer would truncate the big packets a raw socket may see from other processes.</summary>
    private const int ReceiveBufferSize = ushort.MaxValue;

    private readonly Socket _socket;
    private readonly IPEndPoint _destination;
    private readonly CancellationTokenSource _stop = new();

    private SocketIcmpEndpoint(Socket socket, IcmpSocketKind kind, IPEndPoint destination)
    {
        _socket = socket;
        Kind = kind;
        _destination = destination;
    }

    public IcmpSocketKind Kind { get; }

    public bool AssignsIdentifier => Kind == IcmpSocketKind.Datagram;

    /// <summary>Opens an ICMP socket for <paramref name="destination"/>: raw if allowed, else datagram.</summary>
    /// <exception cref="IcmpUnavailableException">Neither kind of socket can be opened.</exception>
    public static SocketIcmpEndpoint Open(IPAddress destination, int? ttl, SocketFactory? createSocket = null)
    {
        createSocket ??= static (family, type, protocol) => new Socket(family, type, protocol);
        AddressFamily family = destination.AddressFamily;
        ProtocolType protocol = family == AddressFamily.InterNetworkV6 ? ProtocolType.IcmpV6 : ProtocolType.Icmp;

        Socket socket;
        IcmpSocketKind kind;
        try
        {
            socket = createSocket(family, SocketType.Raw, protocol);
            kind = IcmpSocketKind.Raw;
        }
        catch (SocketException rawError)
        {
            try
            {
                socket = createSocket(family, SocketType.Dgram, protocol);
                kind = IcmpSocketKind.Datagram;
            }
            catch (SocketException datagramError)
            {
                throw new IcmpUnavailableException(
                    $"Cannot ping {destination}: a raw ICMP socket was refused ({rawError.SocketErrorCode}; it needs root or CAP_NET_RAW, " +
                    $"or an administrator on Windows) and so was a datagram ICMP socket ({datagramError.SocketErrorCode}; on Linux it needs " +
                    "the process's group inside sysctl net.ipv4.ping_group_range).",
                    new AggregateException(rawError, datagramError));
            }
        }

        try
        {
            if (ttl is int hops) socket.Ttl = (short)hops; // IP_TTL, or IPV6_UNICAST_HOPS on an IPv6 socket
            // .NET refuses ReceiveFrom on an unbound socket, and the receive loop starts before the first send.
            // Port 0 on a datagram ICMP socket lets the kernel pick the echo identifier.
            socket.Bind(new IPEndPoint(AnyAddress(family), 0));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new SocketIcmpEndpoint(socket, kind, new IPEndPoint(destination, 0));
    }

    public void Start(IIcmpReceiver receiver) => _ = ReceiveLoopAsync(receiver);

    public void Send(ReadOnlySpan<byte> message) => _socket.SendTo(message, SocketFlags.None, _destination);

    public void Dispose()
    {
        // The source is not disposed: it has no timer to release, and the loop may still read its token.
        _stop.Cancel();
        _socket.Dispose();
    }

    private static IPAddress AnyAddress(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;

    private async Task ReceiveLoopAsync(IIcmpReceiver receiver)
    {
        byte[] buffer = new byte[ReceiveBufferSize];
        EndPoint anySource = new IPEndPoint(AnyAddress(_destination.AddressFamily), 0);
        CancellationToken stop = _stop.Token;
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, anySource, stop).ConfigureAwait(false);
            }
            catch (Exception e) when (stop.IsCancellationRequested || e is ObjectDisposedException)
            {
                return; // disposed: the subscription ended
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Windows reports an ICMP error about an earlier send as a reset on the next receive; the socket still works.
                continue;
            }
            catch (Exception e)
            {
                receiver.OnReceiveError(e);
                return;
            }

            receiver.OnReceived(buffer.AsSpan(0, received.ReceivedBytes), ((IPEndPoint)received.RemoteEndPoint).Address);
        }
    }
}
