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
        var sent = new TaskCompletionSource<(Session Session, Task Written)>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Sessions.Subscribe(s => sent.TrySetResult((s, s.Send(data).AsTask())));
        var bound = server.Start("127.0.0.1", 0);

        using var client = await Wait.ConnectRaw(bound);
        var received = await Wait.ReadExactly(client, data.Length);

        Assert.Equal(data, received);
        var (session, written) = await sent.Task.WaitAsync(Wait.Long);
        await written.WaitAsync(Wait.Long); // the send's completion: every byte handed to the socket
        Assert.Equal(data.Length, session.BytesSent);
    }

    [Fact]
    public async Task ReadLimitedServer_ReceivesEveryByteInOrder()
    {
        var data = Pattern(256 * 1024);
        await using var server = new TcpServer(new TcpServerOptions { ReadRateLimit = new RateLimit(2 * 1024 * 1024, 32 * 1024) });
        // The session's frames, in order, until the server read as many bytes as were sent.
        var received = server.Sessions.SelectMany(s => s.Frames)
            .Scan(new List<byte>(), (all, f) => { all.AddRange(f.Data.ToArray()); return all; })
            .Where(all => all.Count >= data.Length)
            .First("the server to read everything");
        var bound = server.Start("127.0.0.1", 0);

        using var client = await Wait.ConnectRaw(bound);
        await client.SendAsync(data, SocketFlags.None).WaitAsync(Wait.Long);

        Assert.Equal(data, await received);
    }
}
