using System.Net;

namespace Asio2.Rx;

/// <summary>
/// An ICMP socket aimed at one destination, as the ping protocol logic sees it: send an ICMP message, receive raw packets.
/// The real one is <see cref="SocketIcmpEndpoint"/>; tests use a fake driven by a <c>TestScheduler</c>.
/// </summary>
internal interface IIcmpEndpoint : IDisposable
{
    /// <summary>
    /// True when the kernel replaces the echo identifier with one of its own and routes replies by it, as Linux
    /// datagram ICMP sockets do; then the identifier in replies is not ours and must not be compared.
    /// </summary>
    bool AssignsIdentifier { get; }

    /// <summary>Starts delivering received packets to <paramref name="receiver"/>. Called once, before the first <see cref="Send"/>.</summary>
    void Start(IIcmpReceiver receiver);

    /// <summary>Sends one ICMP message (no IP header) to the destination. Throws <see cref="System.Net.Sockets.SocketException"/> when the system refuses it.</summary>
    void Send(ReadOnlySpan<byte> message);
}

/// <summary>Receives what an <see cref="IIcmpEndpoint"/> reads. Called from the endpoint's receive loop, one call at a time.</summary>
internal interface IIcmpReceiver
{
    /// <summary>One packet as the socket delivered it (with an IPv4 header on IPv4 raw sockets). Valid only during the call.</summary>
    void OnReceived(ReadOnlySpan<byte> packet, IPAddress source);

    /// <summary>The socket failed; no more packets will come.</summary>
    void OnReceiveError(Exception error);
}
