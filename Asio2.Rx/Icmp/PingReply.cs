using System.Globalization;
using System.Net;

namespace Asio2.Rx;

/// <summary>
/// The outcome of one echo request: a reply, or a timeout. <see cref="Icmp.Ping(string, PingOptions?)"/> emits exactly one per request.
/// </summary>
/// <param name="Sequence">The request's number, counting from 0 for each subscription. The wire carries it modulo 65536.</param>
/// <param name="Address">The address the reply came from; for a timed-out request, the address that was pinged.</param>
/// <param name="Ttl">The TTL of the reply's IPv4 header. Null when timed out, and for IPv6 and Linux datagram ICMP sockets,
/// whose packets arrive without the IP header (.NET does not expose the ancillary data that would carry it).</param>
/// <param name="RoundTripTime">From sending the request to receiving the reply, measured on the ping's scheduler clock.
/// <see cref="TimeSpan.Zero"/> when timed out.</param>
/// <param name="TimedOut">True when no matching reply arrived within <see cref="PingOptions.Timeout"/>.</param>
/// <param name="Bytes">Size of the ICMP reply (8-byte header and payload), as <c>ping</c> prints it; 0 when timed out.</param>
public readonly record struct PingReply(long Sequence, IPAddress Address, int? Ttl, TimeSpan RoundTripTime, bool TimedOut, int Bytes)
{
    /// <summary>A line like <c>ping</c> prints: <c>32 bytes from 127.0.0.1: icmp_seq=0 ttl=64 time=0.052 ms</c>.</summary>
    public override string ToString() => TimedOut
        ? string.Create(CultureInfo.InvariantCulture, $"Request timeout for {Address}: icmp_seq={Sequence}")
        : string.Create(CultureInfo.InvariantCulture,
            $"{Bytes} bytes from {Address}: icmp_seq={Sequence}{(Ttl is int ttl ? $" ttl={ttl}" : "")} time={RoundTripTime.TotalMilliseconds:0.###} ms");
}
