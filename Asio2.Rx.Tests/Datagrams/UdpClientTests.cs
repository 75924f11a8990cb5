using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.Datagrams;

public class UdpClientTests
{
    [Fact]
    public async Task PortUnreachable_IsIgnored_TheClientReceivesOnceAServerAppears()
    {
        // A port with nothing behind it (bound then released).
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        await using var client = new UdpClient();
        var session = await client.Connect("127.0.0.1", port).First("the connection");
        var channel = ((UdpSession)session).Channel;

        // Each send draws an ICMP port unreachable, reported by Linux as ECONNREFUSED on the connected socket (to the
        // pending receive, or to the next send). Sent again until one is reported: the kernel rate-limits ICMP errors.
        var ignored = Observable.FromEvent(h => channel.ErrorIgnored += h, h => channel.ErrorIgnored -= h).First("an ICMP error to be reported and ignored");
        using (Observable.Interval(TimeSpan.FromMilliseconds(20)).StartWith(0).Subscribe(_ => client.Send("anyone?")))
            await ignored;
        Assert.True(session.IsOpen);

        await using var server = new UdpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send("here")));
        server.Start("127.0.0.1", port);
        var reply = client.Frames.First("the server's reply");
        using (Observable.Interval(TimeSpan.FromMilliseconds(20)).StartWith(0).Subscribe(_ => client.Send("anyone?")))
            Assert.Equal("here", (await reply).Text);
        Assert.True(session.IsOpen);
    }

    [Fact]
    public async Task Disconnect_ClosesTheSessionLocally_AndCompletesTheStreams()
    {
        await using var server = new UdpServer();
        var bound = server.Start("127.0.0.1", 0);
        var client = new UdpClient();
        var session = await client.Connect(bound).First("the connection");
        var frames = client.Frames.LastOrDefaultAsync().ToTask();

        await client.DisconnectAsync().WaitAsync(Wait.Long);

        await frames.WaitAsync(Wait.Long);
        Assert.Equal(CloseKind.LocalClose, session.CloseReason!.Kind);
    }
}
