using System.Net.Sockets;
using System.Reactive.Linq;

namespace Asio2.Rx.Tests.RateLimits;

/// <summary>Rate limits over real loopback TCP: the bytes arrive intact and in order (timing is the virtual-time tests' job).</summary>
public class TcpRateLimitTests
{
    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + i / 256)).ToArray();

    [Fact]
    public async Task WriteLimitedServer_DeliversEveryByteInOrder()
    {
        var data = Pattern(256 * 1024);
        await using var server = new TcpServer(new TcpServerOptions { WriteRateLimit = new RateLimit(2 * 1024 * 1024, 64 * 1024) });
        var sessions = server.Sessions.Replay();
        using var _ = sessions.Connect();
        server.Sessions.Subscribe(s => s.Send(data));
        var bound = server.Start("127.0.0.1", 0);

        using var client = await Wait.ConnectRaw(bound);
        var received = await Wait.ReadExactly(client, data.Length);

        Assert.Equal(data, received);
        var session = await sessions.First("the server session");
        await Wait.Until(() => session.BytesSent == data.Length, "the server counted every byte sent");
    }

    [Fact]
    public async Task ReadLimitedServer_ReceivesEveryByteInOrder()
    {
        var data = Pattern(256 * 1024);
        await using var server = new TcpServer(new TcpServerOptions { ReadRateLimit = new RateLimit(2 * 1024 * 1024, 32 * 1024) });
        var received = new List<byte>();
        var gate = new object();
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => { lock (gate) received.AddRange(f.Data.ToArray()); });
        var bound = server.Start("127.0.0.1", 0);

        using var client = await Wait.ConnectRaw(bound);
        await client.SendAsync(data, SocketFlags.None).WaitAsync(Wait.Long);
        await Wait.Until(() => { lock (gate) return received.Count >= data.Length; }, "the server read everything");

        lock (gate) Assert.Equal(data, received);
    }
}
