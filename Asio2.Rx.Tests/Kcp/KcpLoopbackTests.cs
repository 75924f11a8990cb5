using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>KCP sessions over real UDP sockets on loopback.</summary>
public sealed class KcpLoopbackTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public async Task Echo_MessagesFrom1ByteTo60KiB_ComeBackWholeAndInOrder(string address)
    {
        await using var server = new KcpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var serverSession = server.Sessions.First("the server's session");
        var bound = server.Start(address, 0);
        await using var client = new KcpClient();
        var sizes = new[] { 1, 2, 100, 1375, 1376, 1377, 5000, 20_000, 60 * 1024, 0 };
        var echoes = client.Frames.Select(f => f.Data.ToArray()).Take(sizes.Length).ToList().ToTask();
        var session = await client.Connect(bound).First("the handshake");

        foreach (int size in sizes) _ = client.Send(Payload(size));

        var got = await echoes.WaitAsync(Wait.Long);
        Assert.Equal(sizes.Length, got.Count);
        for (int i = 0; i < sizes.Length; i++) Assert.Equal(Payload(sizes[i]), got[i]);
        Assert.Equal("kcp", session.Transport);
        Assert.Equal(1, server.SessionCount);
        // What went into KCP each way: the payloads, not the send queue's record lengths (each echo went in before it came back).
        Assert.Equal(sizes.Sum(), session.BytesSent);
        Assert.Equal(sizes.Sum(), (await serverSession).BytesSent);
    }

    [Fact]
    public async Task Disconnect_SendsFin_ServerSessionClosesWithRemoteClose()
    {
        await using var server = new KcpServer();
        var announced = server.Sessions.First("the server session");
        var closed = server.Sessions.SelectMany(s => s.Closed).First("the server session's close");
        var bound = server.Start("127.0.0.1", 0);
        var client = new KcpClient();
        await client.Connect(bound).First("the handshake");
        await announced;

        await client.DisconnectAsync().WaitAsync(Wait.Long);

        Assert.Equal(CloseKind.RemoteClose, (await closed).Kind);
    }

    private static byte[] Payload(int size) => Enumerable.Range(0, size).Select(i => (byte)(7 * i + 3)).ToArray();
}
