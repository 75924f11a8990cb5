using System.Reactive.Concurrency;
using System.Collections.Concurrent;
using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.Tcp;

public class TcpEchoTests
{
    [Fact]
    public async Task HundredClients_ThousandFramesEach_EchoedWithoutLossDuplicationOrReordering()
    {
        const int clients = 100, frames = 1000;
        using var pool = new SchedulerPool(2);
        var options = new TcpServerOptions { Framing = Framing.Datagram(), Schedulers = pool };
        await using var server = new TcpServer(options);
        var pinningViolations = 0;
        var concurrencyViolations = 0;
        server.Sessions.Subscribe(session =>
        {
            // Learn the pinned scheduler's thread, then check every notification against it.
            int loopThread = -1, inside = 0;
            session.Scheduler.Schedule(() => loopThread = Environment.CurrentManagedThreadId);
            session.Frames.Subscribe(f =>
            {
                if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref concurrencyViolations);
                if (Environment.CurrentManagedThreadId != Volatile.Read(ref loopThread)) Interlocked.Increment(ref pinningViolations);
                f.Session.Send(f.Data);
                Interlocked.Decrement(ref inside);
            });
        });
        var endPoint = server.Start("127.0.0.1", 0);

        var results = await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Datagram(), Schedulers = pool });
            var received = new List<int>(frames);
            var all = client.Frames.Select(f => BitConverter.ToInt32(f.Span)).Do(received.Add).Take(frames).ToTask();
            await client.Connect(endPoint).First("connection");
            var buffer = new byte[4];
            for (int i = 0; i < frames; i++)
            {
                BitConverter.TryWriteBytes(buffer, c * frames + i);
                _ = client.Send(buffer);
            }
            await all.WaitAsync(Wait.Long);
            return (c, received);
        }));

        foreach (var (c, received) in results)
            Assert.Equal(Enumerable.Range(c * frames, frames), received);
        Assert.Equal(0, pinningViolations);
        Assert.Equal(0, concurrencyViolations);
    }

    [Fact]
    public async Task DelimiterEcho_WithRealClientSocket_RoundTripsText()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n', keepDelimiter: true) });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data));
        var endPoint = server.Start("127.0.0.1", 0);

        using var socket = await Wait.ConnectRaw(endPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes("hello\nwor"));
        await socket.SendAsync(Encoding.ASCII.GetBytes("ld\n"));
        var echoed = await Wait.ReadExactly(socket, 12);
        Assert.Equal("hello\nworld\n", Encoding.ASCII.GetString(echoed));
    }

    [IPv6Fact]
    public async Task Ipv6Loopback_Echoes()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Text.ToUpperInvariant() + "\n"));
        var endPoint = server.Start("::1", 0);
        Assert.Equal(IPAddress.IPv6Loopback, endPoint.Address);

        using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') });
        var reply = client.Frames.First("reply");
        await client.Connect("::1", endPoint.Port).First("connection");
        await client.Send("abc\n");
        Assert.Equal("ABC", (await reply).Text);
    }

    [IPv6Fact]
    public async Task DualModeServer_AcceptsIpv4Clients()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var session = server.Sessions.First("session");
        var endPoint = server.Start(new IPEndPoint(IPAddress.IPv6Any, 0));
        using var socket = await Wait.ConnectRaw(new IPEndPoint(IPAddress.Loopback, endPoint.Port));
        var s = await session;
        Assert.True(s.IsOpen);
    }
}
