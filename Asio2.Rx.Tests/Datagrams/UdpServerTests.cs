using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Datagrams;

public class UdpServerTests
{
    /// <summary>A plain UDP socket playing a peer Asio2.Rx does not control.</summary>
    private static Socket RawSocket(AddressFamily family = AddressFamily.InterNetwork)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback, 0));
        return socket;
    }

    private static async Task<byte[]> ReceiveOne(Socket socket)
    {
        var buffer = new byte[70_000];
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait.Long);
        return buffer[..n];
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [IPv6InlineData("::1")]
    public async Task Echo_OverLoopback_EveryDatagramComesBackWhole(string address)
    {
        await using var server = new UdpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start(address, 0);
        using var socket = RawSocket(bound.AddressFamily);

        foreach (int size in new[] { 0, 1, 1472, 9000, UdpLimits.MaxIPv4Payload })
        {
            var payload = Enumerable.Range(0, size).Select(i => (byte)(7 * i + 3)).ToArray();
            await socket.SendToAsync(payload, SocketFlags.None, bound);
            Assert.Equal(payload, await ReceiveOne(socket));
        }
        Assert.Equal(1, server.SessionCount);
    }

    [Fact]
    public async Task BytesSent_CountsTheDatagramsPayloads_NotTheSendQueuesRecordLengths()
    {
        await using var server = new UdpServer();
        var first = server.Sessions.SelectMany(s => s.Frames).First("the first datagram");
        var bound = server.Start("127.0.0.1", 0);
        using var socket = RawSocket();
        await socket.SendToAsync("hello"u8.ToArray(), SocketFlags.None, bound);
        var session = (await first).Session; // counted before it was delivered

        int[] sizes = [0, 1, 1000, 9000];
        foreach (int size in sizes)
        {
            await session.Send(new byte[size]); // completes once written and counted
            Assert.Equal(size, (await ReceiveOne(socket)).Length);
        }

        Assert.Equal(sizes.Sum(), session.BytesSent);
        Assert.Equal(5, session.BytesReceived);
    }

    [Fact]
    public async Task FirstDatagram_IsSeenBySelectManyOverSessions_AndTheSessionKnowsItsPeer()
    {
        await using var server = new UdpServer();
        var first = server.Sessions.SelectMany(s => s.Frames).First("first datagram");
        var bound = server.Start("127.0.0.1", 0);
        using var socket = RawSocket();

        await socket.SendToAsync("first"u8.ToArray(), SocketFlags.None, bound);

        var frame = await first;
        Assert.Equal("first", frame.Text);
        Assert.Equal(socket.LocalEndPoint, frame.Session.RemoteEndPoint);
        Assert.Equal("udp", frame.Session.Transport);
        Assert.Same(frame.Session, server.FindSession((IPEndPoint)socket.LocalEndPoint!));
    }

    [Fact]
    public async Task UdpClient_Echo_SurvivesManyDatagramsInOrder()
    {
        await using var server = new UdpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start("127.0.0.1", 0);
        await using var client = new UdpClient(new UdpClientOptions { SocketReceiveBufferSize = 1 << 20 });
        var replies = client.Frames.Select(f => f.Text).Take(100).ToList().ToTask();
        await client.Connect(bound).First("connection");

        // One at a time: UDP may drop a burst on a busy machine; what is checked here is the session plumbing.
        var got = new List<string>();
        var each = client.Frames.Select(f => f.Text).Replay();
        using var _ = each.Connect();
        for (int i = 0; i < 100; i++)
        {
            await client.Send($"message {i}");
            await each.Skip(i).First($"echo {i}");
        }
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"message {i}"), await replies.WaitAsync(Wait.Long));
    }

    [Fact]
    public async Task SendLargerThanMaxDatagramSize_IsRejectedAsTooLarge_AndOneAtTheLimitGoesOut()
    {
        await using var server = new UdpServer(new UdpServerOptions { MaxDatagramSize = 1000 });
        var results = new List<SendResult>();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            results.Add(f.Session.Send(new byte[1001]));
            results.Add(f.Session.Send(new byte[1000]));
        }));
        var bound = server.Start("127.0.0.1", 0);
        using var socket = RawSocket();

        await socket.SendToAsync(new byte[2], SocketFlags.None, bound);

        Assert.Equal(1000, (await ReceiveOne(socket)).Length);
        Assert.True(results[0].IsRejected);
        Assert.Equal(SendRejection.TooLarge, (await Assert.ThrowsAsync<SendRejectedException>(() => results[0].AsTask())).Rejection);
        Assert.False(results[1].IsRejected);
        Assert.NotNull(server.FindSession((IPEndPoint)socket.LocalEndPoint!)); // the session stays open
    }

    [Fact]
    public async Task ReceivedDatagramLargerThanMaxDatagramSize_IsDroppedAndCounted()
    {
        await using var server = new UdpServer(new UdpServerOptions { MaxDatagramSize = 100 });
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var drops = Observable.FromEvent<string>(h => server.Drops.Dropped += h, h => server.Drops.Dropped -= h).Replay();
        using var _ = drops.Connect();
        var bound = server.Start("127.0.0.1", 0);
        using var socket = RawSocket();

        await socket.SendToAsync(new byte[101], SocketFlags.None, bound);  // new endpoint, oversize: no session
        Assert.Equal("datagram_too_large", await drops.First("the first oversize datagram to be counted"));
        Assert.Equal(1, server.DroppedDatagrams);
        Assert.Equal(0, server.SessionCount);
        await socket.SendToAsync(new byte[100], SocketFlags.None, bound);
        Assert.Equal(100, (await ReceiveOne(socket)).Length);
        await socket.SendToAsync(new byte[101], SocketFlags.None, bound);  // known endpoint, oversize
        Assert.Equal("datagram_too_large", await drops.Skip(1).First("the second oversize datagram to be counted"));
        Assert.Equal(2, server.DroppedDatagrams);
        await socket.SendToAsync(new byte[3], SocketFlags.None, bound);
        Assert.Equal(3, (await ReceiveOne(socket)).Length);
    }

    [Fact]
    public async Task ThousandEndpoints_EachGetASession_IdleOnesAreReapedAtTheSilenceTimeout()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        // The 60 s timeout from the first datagram on (the shorter one for unconfirmed peers has its own test).
        var server = new UdpServer(new UdpServerOptions { Schedulers = new SchedulerPool(scheduler), SilenceTimeout = TimeSpan.FromSeconds(60), UnconfirmedSilenceTimeout = null });
        var closes = new List<(long Time, CloseKind Kind)>();
        var echoes = 0;
        server.Sessions.Subscribe(s =>
        {
            s.Frames.Subscribe(f => f.Session.Send(f.Data));
            s.Closed.Subscribe(r => closes.Add((scheduler.Clock, r.Kind)));
        });
        var serverEndPoint = server.Start(network.Bind());
        var peers = Enumerable.Range(0, 1000).Select(_ => network.Bind()).ToArray();
        foreach (var peer in peers) peer.Start((_, _) => Interlocked.Increment(ref echoes));

        var target = serverEndPoint.Serialize();
        foreach (var peer in peers) peer.Send("hello"u8, target);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(1000, server.SessionCount);
        Assert.Equal(1000, echoes);

        // Half the peers speak again at 30 s: their sessions live until 90 s; the others are reaped at 60 s.
        scheduler.AdvanceTo(TimeSpan.FromSeconds(30).Ticks);
        foreach (var peer in peers.Where((_, i) => i % 2 == 0)) peer.Send("still here"u8, target);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(61).Ticks);
        Assert.Equal(500, server.SessionCount);
        Assert.All(closes, c => Assert.Equal(CloseKind.SilenceTimeout, c.Kind));
        Assert.All(closes, c => Assert.InRange(c.Time, TimeSpan.FromSeconds(60).Ticks, TimeSpan.FromSeconds(60).Ticks + 10));
        scheduler.AdvanceTo(TimeSpan.FromSeconds(91).Ticks);
        Assert.Equal(0, server.SessionCount);
        Assert.Equal(1000, closes.Count);

        // A reaped endpoint that speaks again gets a new session.
        peers[0].Send("back"u8, target);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(1, server.SessionCount);
        Assert.Equal(1501, echoes);
        var stop = server.StopAsync();
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        await stop.WaitAsync(Wait.Long); // completes once the sessions' closes ran in virtual time
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public void Defaults_APeerThatSentOneDatagramIsReapedAfter5s_AConfirmedOneAfter60s_AndSessionsAreBounded()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var options = new UdpServerOptions { Schedulers = new SchedulerPool(scheduler) };
        Assert.Equal(10_000, options.MaxSessions);
        var server = new UdpServer(options);
        var closes = new Dictionary<long, (long Time, CloseKind Kind)>();
        server.Sessions.Subscribe(s => s.Closed.Subscribe(r => closes[s.Id] = (scheduler.Clock, r.Kind)));
        var target = server.Start(network.Bind()).Serialize();
        var once = network.Bind();
        var twice = network.Bind();

        once.Send("scan"u8, target);
        twice.Send("hello"u8, target);
        scheduler.AdvanceBy(1);
        twice.Send("again"u8, target);
        var sessions = server.GetSessions().ToDictionary(s => s.RemoteEndPoint!.ToString()!);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(6).Ticks);

        var onceSession = sessions[once.LocalEndPoint.ToString()];
        var twiceSession = sessions[twice.LocalEndPoint.ToString()];
        Assert.Equal(CloseKind.SilenceTimeout, closes[onceSession.Id].Kind);
        Assert.InRange(closes[onceSession.Id].Time, TimeSpan.FromSeconds(5).Ticks, TimeSpan.FromSeconds(5).Ticks + 10);
        Assert.True(twiceSession.IsOpen);
        scheduler.AdvanceTo(TimeSpan.FromSeconds(61).Ticks);
        Assert.Equal(CloseKind.SilenceTimeout, closes[twiceSession.Id].Kind);
        Assert.InRange(closes[twiceSession.Id].Time, TimeSpan.FromSeconds(60).Ticks, TimeSpan.FromSeconds(60).Ticks + 10);
    }

    [Fact]
    public void MaxSessions_DatagramsFromFurtherEndpointsAreDroppedAndCounted()
    {
        var scheduler = new TestScheduler();
        var network = new MemoryDatagramNetwork(scheduler);
        var server = new UdpServer(new UdpServerOptions { Schedulers = new SchedulerPool(scheduler), MaxSessions = 3 });
        var frames = 0;
        server.Sessions.Subscribe(s => s.Frames.Subscribe(_ => frames++));
        var target = server.Start(network.Bind()).Serialize();
        var peers = Enumerable.Range(0, 5).Select(_ => network.Bind()).ToArray();

        foreach (var peer in peers) peer.Send("x"u8, target);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(3, server.SessionCount);
        Assert.Equal(2, server.DroppedDatagrams);

        // Known endpoints keep being served; a slot freed by a close is taken by the next new endpoint.
        peers[0].Send("y"u8, target);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(4, frames);
        server.GetSessions()[0].Close();
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        peers[4].Send("z"u8, target);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(3, server.SessionCount);
        Assert.Equal(5, frames);
    }

    [Fact]
    public async Task StopAsync_FlushesQueuedDatagrams_ThenCompletesEveryStream()
    {
        var server = new UdpServer();
        var sessionsDone = server.Sessions.LastOrDefaultAsync().ToTask();
        var reasons = server.Sessions.SelectMany(s => s.Closed).ToList().ToTask();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            for (int i = 0; i < 10; i++) f.Session.Send($"reply {i}");
        }));
        var bound = server.Start("127.0.0.1", 0);
        using var socket = RawSocket();
        await socket.SendToAsync("go"u8.ToArray(), SocketFlags.None, bound);
        Assert.Equal("reply 0", Encoding.UTF8.GetString(await ReceiveOne(socket)));

        await server.StopAsync().WaitAsync(Wait.Long);
        for (int i = 1; i < 10; i++) Assert.Equal($"reply {i}", Encoding.UTF8.GetString(await ReceiveOne(socket)));
        await sessionsDone.WaitAsync(Wait.Long);
        Assert.Equal(CloseKind.Stopped, Assert.Single(await reasons.WaitAsync(Wait.Long)).Kind);
        Assert.Equal(0, server.SessionCount);
    }

    [Fact]
    public async Task Broadcast_ReachesEverySession()
    {
        await using var server = new UdpServer();
        var both = server.Sessions.Take(2).ToList().First("both sessions");
        var bound = server.Start("127.0.0.1", 0);
        using var a = RawSocket();
        using var b = RawSocket();
        await a.SendToAsync("hi"u8.ToArray(), SocketFlags.None, bound);
        await b.SendToAsync("hi"u8.ToArray(), SocketFlags.None, bound);
        await both;

        Assert.Equal(2, server.Broadcast("news"));
        Assert.Equal("news", Encoding.UTF8.GetString(await ReceiveOne(a)));
        Assert.Equal("news", Encoding.UTF8.GetString(await ReceiveOne(b)));
    }

    [Fact]
    public async Task SubscriberThatThrows_ClosesOnlyItsSession()
    {
        await using var server = new UdpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            if (f.Text == "boom") throw new InvalidOperationException("handler bug");
            f.Session.Send(f.Data);
        }));
        var reasons = server.Sessions.SelectMany(s => s.Closed).Replay();
        using var _ = reasons.Connect();
        var bound = server.Start("127.0.0.1", 0);
        using var bad = RawSocket();
        using var good = RawSocket();

        await bad.SendToAsync("boom"u8.ToArray(), SocketFlags.None, bound);
        Assert.Equal(CloseKind.UserCodeFault, (await reasons.First("the faulty session's close")).Kind);
        await good.SendToAsync("fine"u8.ToArray(), SocketFlags.None, bound);
        Assert.Equal("fine", Encoding.UTF8.GetString(await ReceiveOne(good)));
    }
}
