using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

/// <summary>Real pings of this machine's loopback addresses, on real sockets and the default scheduler.</summary>
public sealed class PingLoopbackTests
{
    /// <summary>Generous: a loopback round trip takes microseconds, but a CI machine with two busy cores can stall.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static PingOptions ThreeQuick() => new() { Count = 3, Interval = TimeSpan.FromMilliseconds(50) };

    private static void AssertThreeReplies(IList<PingReply> replies, IPAddress from, bool hasTtl)
    {
        Assert.Equal([0L, 1L, 2L], replies.Select(r => r.Sequence));
        Assert.All(replies, r =>
        {
            Assert.False(r.TimedOut);
            Assert.Equal(from, r.Address);
            Assert.True(IPAddress.IsLoopback(r.Address));
            Assert.Equal(hasTtl, r.Ttl is > 0);
            Assert.InRange(r.RoundTripTime, TimeSpan.Zero, TimeSpan.FromSeconds(1));
            Assert.Equal(8 + PingOptions.DefaultPayload.Length, r.Bytes);
        });
    }

    [IcmpTheory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public async Task Pinging_a_loopback_address_three_times_gets_three_replies_from_it(string address)
    {
        IList<PingReply> replies = await Icmp.Ping(address, ThreeQuick()).Timeout(Deadline).ToList();

        // Only raw IPv4 sockets see the IP header, and with it the TTL.
        IPAddress loopback = IPAddress.Parse(address);
        AssertThreeReplies(replies, loopback, hasTtl: loopback.AddressFamily == AddressFamily.InterNetwork && Environment.IsPrivilegedProcess);
    }

    [IcmpFact]
    public async Task Pinging_localhost_resolves_the_name_and_gets_replies_from_loopback()
    {
        IList<PingReply> replies = await Icmp.Ping("localhost", ThreeQuick()).Timeout(Deadline).ToList();

        Assert.Equal([0L, 1L, 2L], replies.Select(r => r.Sequence));
        Assert.All(replies, r => Assert.True(!r.TimedOut && IPAddress.IsLoopback(r.Address)));
    }

    [Fact]
    public async Task Pinging_a_name_that_does_not_resolve_errors_with_a_socket_exception()
    {
        // .invalid never resolves (RFC 2606), and no ICMP socket is opened before the name is resolved.
        await Assert.ThrowsAsync<SocketException>(async () => await Icmp.Ping("no-such-host.invalid").Timeout(Deadline));
    }

    [IcmpFact]
    public async Task Concurrent_pings_in_one_process_each_get_only_their_own_replies()
    {
        // Raw sockets see every ICMP packet of the host: each ping must pick its replies out by identifier.
        IList<PingReply>[] results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            Icmp.Ping(IPAddress.Loopback, ThreeQuick()).Timeout(Deadline).ToList().ToTask()));

        Assert.All(results, replies => AssertThreeReplies(replies, IPAddress.Loopback, hasTtl: Environment.IsPrivilegedProcess));
    }

    [IcmpFact]
    public async Task Statistics_of_a_loopback_ping_show_no_loss()
    {
        PingStatistics statistics = await Icmp.Ping(IPAddress.Loopback, ThreeQuick()).Statistics().LastAsync().Timeout(Deadline);

        Assert.Equal((3, 3, 0.0), (statistics.Sent, statistics.Received, statistics.LossPercent));
        Assert.True(statistics.Min <= statistics.Average && statistics.Average <= statistics.Max);
    }

    [IcmpFact]
    public async Task A_ttl_and_a_large_payload_are_sent_and_echoed()
    {
        var options = new PingOptions { Count = 1, Ttl = 7, Payload = new byte[1400] };

        PingReply reply = await Icmp.Ping(IPAddress.Loopback, options).Timeout(Deadline);

        Assert.False(reply.TimedOut);
        Assert.Equal(8 + 1400, reply.Bytes);
    }

    [DatagramIcmpTheory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public async Task Pinging_over_a_datagram_icmp_socket_works_where_the_system_allows_it(string address)
    {
        IPAddress loopback = IPAddress.Parse(address);
        var kinds = new List<IcmpSocketKind>();
        IObservable<PingReply> ping = Icmp.Ping(loopback, ThreeQuick().Resolve(), () =>
        {
            // Refuse the raw socket as an unprivileged process would see it, to take the fallback.
            SocketIcmpEndpoint endpoint = SocketIcmpEndpoint.Open(loopback, null, (family, type, protocol) =>
                type == SocketType.Raw ? throw new SocketException((int)SocketError.AccessDenied) : new Socket(family, type, protocol));
            kinds.Add(endpoint.Kind);
            return endpoint;
        });

        IList<PingReply> replies = await ping.Timeout(Deadline).ToList();

        Assert.Equal([IcmpSocketKind.Datagram], kinds);
        AssertThreeReplies(replies, loopback, hasTtl: false); // Linux strips the IPv4 header on datagram sockets
    }
}
