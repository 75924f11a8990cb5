using System.Net;
using System.Net.Sockets;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

public sealed class SocketIcmpEndpointTests
{
    private static Socket Refuse(SocketError error) => throw new SocketException((int)error);

    [Fact]
    public void Open_falls_back_to_a_datagram_socket_when_a_raw_socket_is_refused()
    {
        var asked = new List<SocketType>();

        using SocketIcmpEndpoint endpoint = SocketIcmpEndpoint.Open(IPAddress.Loopback, ttl: null, (family, type, protocol) =>
        {
            asked.Add(type);
            // A UDP socket stands in for the datagram ICMP socket the host refuses: only the choice is under test.
            return type == SocketType.Raw ? Refuse(SocketError.AccessDenied) : new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        });

        Assert.Equal([SocketType.Raw, SocketType.Dgram], asked);
        Assert.Equal(IcmpSocketKind.Datagram, endpoint.Kind);
        Assert.True(endpoint.AssignsIdentifier);
    }

    [Fact]
    public void Open_throws_icmp_unavailable_naming_both_refusals_when_neither_socket_may_be_opened()
    {
        var error = Assert.Throws<IcmpUnavailableException>(() => SocketIcmpEndpoint.Open(IPAddress.IPv6Loopback, ttl: null,
            (_, type, _) => Refuse(type == SocketType.Raw ? SocketError.AccessDenied : SocketError.ProtocolNotSupported)));

        Assert.IsAssignableFrom<PlatformNotSupportedException>(error);
        Assert.Contains("raw ICMP socket was refused (AccessDenied", error.Message);
        Assert.Contains("datagram ICMP socket (ProtocolNotSupported", error.Message);
        Assert.Contains("ping_group_range", error.Message);
        Assert.Equal(2, Assert.IsType<AggregateException>(error.InnerException).InnerExceptions.Count);
    }

    [Fact]
    public void Ping_delivers_icmp_unavailable_through_on_error()
    {
        // Through the public path: a subscription whose socket cannot open errors, it does not throw from Subscribe.
        Exception? received = null;
        var settings = new PingOptions().Resolve();

        Icmp.Ping(IPAddress.Loopback, settings, () => SocketIcmpEndpoint.Open(IPAddress.Loopback, null, (_, _, _) => Refuse(SocketError.AccessDenied)))
            .Subscribe(_ => { }, e => received = e);

        Assert.IsType<IcmpUnavailableException>(received);
    }

    [RootTheory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public void As_root_open_takes_a_raw_socket(string address)
    {
        using SocketIcmpEndpoint endpoint = SocketIcmpEndpoint.Open(IPAddress.Parse(address), ttl: 5);

        Assert.Equal((IcmpSocketKind.Raw, false), (endpoint.Kind, endpoint.AssignsIdentifier));
    }
}
