using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx.Tests.Datagrams;

public class UdpEndpointTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public async Task SendTo_ReachesAnotherEndpoint_WhichSeesTheSenderAndCanReply(string address)
    {
        using var a = new UdpEndpoint();
        using var b = new UdpEndpoint();
        b.Received.Subscribe(d => b.SendTo(d.RemoteEndPoint, d.Span)); // echo
        var aBound = a.Bind(address, 0);
        var bBound = b.Bind(address, 0);
        var echo = a.Received.First("the echo");

        a.SendTo(bBound, "hello");

        var datagram = await echo;
        Assert.Equal("hello", datagram.Text);
        Assert.Equal(bBound, datagram.RemoteEndPoint);
        Assert.Equal(aBound.Port, ((IPEndPoint)a.LocalEndPoint!).Port);
        Assert.Equal(1, a.DatagramsReceived);
    }

    [IPv6Fact]
    public async Task DualModeEndpoint_TalksToAnIPv4Peer()
    {
        using var dual = new UdpEndpoint();
        using var v4 = new UdpEndpoint();
        var dualBound = dual.Bind(0);
        var v4Bound = v4.Bind("127.0.0.1", 0);
        var atDual = dual.Received.First("a datagram at the dual-mode endpoint");
        var atV4 = v4.Received.First("the reply at the IPv4 endpoint");

        v4.SendTo(new IPEndPoint(IPAddress.Loopback, dualBound.Port), "from v4");
        var first = await atDual;
        dual.SendTo(v4Bound, "to v4"); // an IPv4 target through an IPv6 socket

        Assert.Equal("from v4", first.Text);
        Assert.Equal("to v4", (await atV4).Text);
    }

    [Fact]
    public async Task Multicast_OnLoopback_JoinReceives_LeaveStops()
    {
        var group = IPAddress.Parse("239.255.42.99");
        using var receiver = new UdpEndpoint(new UdpEndpointOptions { ReuseAddress = true });
        using var sender = new UdpEndpoint(new UdpEndpointOptions { MulticastInterface = IPAddress.Loopback, MulticastLoopback = true });
        var port = receiver.Bind("0.0.0.0", 0).Port;
        sender.Bind("127.0.0.1", 0);
        var received = receiver.Received.Select(d => d.Text).Replay();
        using var _ = received.Connect();

        receiver.JoinMulticastGroup(group, IPAddress.Loopback);
        sender.SendTo(new IPEndPoint(group, port), "to the group");
        Assert.Equal("to the group", await received.First("the group datagram"));

        receiver.LeaveMulticastGroup(group, IPAddress.Loopback);
        sender.SendTo(new IPEndPoint(group, port), "after leaving");
        sender.SendTo(new IPEndPoint(IPAddress.Loopback, port), "unicast sentinel");
        // Loopback keeps one sender's datagrams in order: had the group datagram arrived, it would come first.
        Assert.Equal("unicast sentinel", await received.Skip(1).First("the sentinel"));
    }

    [Fact]
    public async Task SendLargerThanMaxDatagramSize_Throws_ReceivedLargerIsDroppedAndCounted()
    {
        using var small = new UdpEndpoint(new UdpEndpointOptions { MaxDatagramSize = 100 });
        using var peer = new UdpEndpoint();
        var smallBound = small.Bind("127.0.0.1", 0);
        var peerBound = peer.Bind("127.0.0.1", 0);
        var first = small.Received.First("the datagram at the limit");

        var error = Assert.Throws<SendRejectedException>(() => small.SendTo(peerBound, new byte[101]));
        Assert.Equal(SendRejection.TooLarge, error.Rejection);
        peer.SendTo(smallBound, new byte[101]);
        peer.SendTo(smallBound, new byte[100]);

        Assert.Equal(100, (await first).Length);
        Assert.Equal(1, small.DroppedDatagrams);
    }

    [Fact]
    public async Task SubscriberThatThrows_IsLogged_TheEndpointKeepsReceiving()
    {
        var log = new RecordingLogger();
        using var endpoint = new UdpEndpoint(new UdpEndpointOptions { Logger = log });
        using var peer = new UdpEndpoint();
        var bound = endpoint.Bind("127.0.0.1", 0);
        peer.Bind("127.0.0.1", 0);
        endpoint.Received.Take(1).Subscribe(_ => throw new InvalidOperationException("handler bug"));
        var second = endpoint.Received.Where(d => d.Text == "two").First("the second datagram");

        peer.SendTo(bound, "one");
        peer.SendTo(bound, "two");

        Assert.Equal("two", (await second).Text);
        // Datagrams are delivered in order on one scheduler: the first one's failure was logged before the second came.
        var entry = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Equal("handler bug", Assert.IsType<InvalidOperationException>(entry.Exception).Message);
        Assert.Equal(2, endpoint.DatagramsReceived);
    }

    [Fact]
    public async Task Dispose_CompletesReceived_AndLaterSendsThrow()
    {
        var endpoint = new UdpEndpoint();
        var bound = endpoint.Bind("127.0.0.1", 0);
        var completed = endpoint.Received.LastOrDefaultAsync().ToTask();

        endpoint.Dispose();

        await completed.WaitAsync(Wait.Long);
        Assert.Throws<ObjectDisposedException>(() => endpoint.SendTo(bound, "late"));
    }

    [Fact]
    public void SendBeforeBind_Throws()
    {
        using var endpoint = new UdpEndpoint();
        Assert.Throws<InvalidOperationException>(() => endpoint.SendTo(new IPEndPoint(IPAddress.Loopback, 9), "x"));
    }
}
