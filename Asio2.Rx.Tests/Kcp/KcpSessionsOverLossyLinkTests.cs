using System.Diagnostics;
using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Xunit.Abstractions;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// A <see cref="KcpClient"/> and a <see cref="KcpServer"/> whose datagrams cross a <see cref="LossyLink"/> on a
/// <see cref="TestScheduler"/>: the whole session stack (handshake, send queue, update scheduling, delivery) in
/// virtual time.
/// </summary>
public sealed class KcpSessionsOverLossyLinkTests(ITestOutputHelper output)
{
    private const int MaxMessageSize = 60 * 1024;
    private static readonly IPEndPoint ServerEndPoint = new(IPAddress.Loopback, 19003);
    private static readonly IPEndPoint ClientEndPoint = new(IPAddress.Loopback, 40001);

    private sealed class Pair
    {
        public Pair(LossyLinkOptions link, Action<KcpOptions>? configure = null)
        {
            Link = new LossyLink(link, Scheduler);
            var serverOptions = new KcpServerOptions { Schedulers = new SchedulerPool(Scheduler), SilenceTimeout = null };
            var clientOptions = new KcpClientOptions { Schedulers = new SchedulerPool(Scheduler), Reconnect = { Enabled = false } };
            configure?.Invoke(serverOptions);
            configure?.Invoke(clientOptions);
            Server = new KcpServer(serverOptions);
            Server.Sessions.Subscribe(s => ServerSessions.Add(s));
            Server.Start(new LossyLinkChannel(Link.B, ServerEndPoint, ClientEndPoint));
            Client = new KcpClient(clientOptions) { ChannelFactory = (_, _) => new LossyLinkChannel(Link.A, ClientEndPoint, ServerEndPoint) };
            Client.Disconnects.Subscribe(r => Disconnects.Add((Scheduler.Clock, r)));
            Client.Connect(ServerEndPoint).Subscribe(s => Session = s);
        }

        public TestScheduler Scheduler { get; } = new();
        public LossyLink Link { get; }
        public KcpServer Server { get; }
        public KcpClient Client { get; }
        public Session? Session { get; private set; }
        public List<Session> ServerSessions { get; } = [];
        public List<(long Time, CloseReason Reason)> Disconnects { get; } = [];

        /// <summary>Advances in steps of 100 ms until <paramref name="done"/> or <paramref name="limit"/> of virtual time.</summary>
        public void RunUntil(Func<bool> done, TimeSpan limit)
        {
            while (!done() && Scheduler.Clock < limit.Ticks) Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        }
    }

    [Fact]
    public void TenThousandMessagesUpTo60KiB_CrossTenPercentLossAnd30To60MsDelay_IntactAndInOrder()
    {
        const int messages = 10_000;
        var stopwatch = Stopwatch.StartNew();
        var pair = new Pair(
            new LossyLinkOptions { LossRate = 0.10, MinDelay = TimeSpan.FromMilliseconds(30), MaxDelay = TimeSpan.FromMilliseconds(60), Seed = 4 },
            o =>
            {
                o.SendWindow = 1024;
                o.ReceiveWindow = 1024;
                o.MaxSendQueueBytes = 8 * 1024 * 1024;
                o.MaxPendingReceiveBytes = 16 * 1024 * 1024;
            });
        var random = new Random(11);
        int[] sizes = Enumerable.Range(0, messages).Select(_ => random.Next(1, MaxMessageSize + 1)).ToArray();
        byte[] content = new byte[65_536 + MaxMessageSize];
        random.NextBytes(content);
        int received = 0;
        string? failure = null;
        pair.Server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            if (failure is null && (received >= messages || !f.Span.SequenceEqual(Message(content, received, sizes[received]))))
                failure = $"message {received}: {f.Length} bytes, expected {(received < messages ? sizes[received] : -1)} or different content";
            received++;
        }));

        pair.RunUntil(() => pair.Session is not null, TimeSpan.FromSeconds(10));
        var session = Assert.IsAssignableFrom<Session>(pair.Session);
        // Keep the send queue topped up to about 4 MiB: the way an application streams a long transfer.
        int sent = 0;
        pair.Scheduler.SchedulePeriodic(TimeSpan.FromMilliseconds(10), () =>
        {
            while (sent < messages && session.QueuedSendBytes < 4 * 1024 * 1024)
            {
                Assert.False(session.Send(Message(content, sent, sizes[sent])).IsRejected);
                sent++;
            }
        });
        pair.RunUntil(() => received == messages || failure is not null, TimeSpan.FromHours(2));

        var virtualTime = TimeSpan.FromTicks(pair.Scheduler.Clock);
        output.WriteLine($"{received}/{messages} messages ({sizes.Sum(s => (long)s) / 1048576.0:F1} MiB) in {virtualTime.TotalSeconds:F1} s virtual, " +
            $"{stopwatch.Elapsed.TotalSeconds:F1} s real; client sent {pair.Link.A.Sent} datagrams ({pair.Link.A.Dropped} lost), " +
            $"server {pair.Link.B.Sent} ({pair.Link.B.Dropped} lost)");
        Assert.Null(failure);
        Assert.Equal(messages, received);
        Assert.True(pair.Link.A.Dropped > 0 && pair.Link.B.Dropped > 0, "the link lost nothing");
        Assert.True(session.IsOpen);
        Assert.Empty(pair.Disconnects);
    }

    [Fact]
    public void PeerThatVanishes_ClosesTheSessionWithDeadLink_AfterTwentyTransmissions()
    {
        var pair = new Pair(new LossyLinkOptions { MinDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(20) });
        pair.RunUntil(() => pair.Session is not null, TimeSpan.FromSeconds(10));
        var session = pair.Session!;
        long cut = pair.Scheduler.Clock;

        pair.Link.A.DropAll = true; // the server hears nothing more
        session.Send("anyone there?");
        pair.RunUntil(() => !session.IsOpen, TimeSpan.FromHours(1));

        var (time, reason) = Assert.Single(pair.Disconnects);
        Assert.Equal(CloseKind.DeadLink, reason.Kind);
        // 20 transmissions, the waits between them growing by half from 200 ms (ikcp does not cap a segment's own
        // timeout): 200 · (1.5^19 − 1) / 0.5 ≈ 886 s after the first.
        Assert.InRange(TimeSpan.FromTicks(time - cut).TotalSeconds, 880, 895);
        Assert.Equal(20 + 1, pair.Link.A.Dropped); // the message, sent 20 times into the void, then the FIN
    }

    [Fact]
    public void StreamMode_WithAFraming_CutsTheByteStreamIntoFrames()
    {
        var pair = new Pair(
            new LossyLinkOptions { LossRate = 0.1, MinDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(15), Seed = 9 },
            o =>
            {
                o.StreamMode = true;
                o.Framing = Framing.Datagram();
            });
        var frames = new List<string>();
        pair.Server.Sessions.Subscribe(s => s.Frames.Subscribe(f => frames.Add(f.Text)));
        pair.RunUntil(() => pair.Session is not null, TimeSpan.FromSeconds(10));

        var expected = Enumerable.Range(0, 500).Select(i => new string((char)('a' + i % 26), i * 7 % 3000)).ToList();
        foreach (var text in expected) pair.Session!.Send(text);
        pair.RunUntil(() => frames.Count == expected.Count, TimeSpan.FromMinutes(5));

        Assert.Equal(expected, frames);
    }

    // Message i is random content read from offset i·7919 mod 65536, so a misplaced or corrupted byte shows.
    private static ReadOnlySpan<byte> Message(byte[] content, int index, int size) => content.AsSpan(index * 7919 % 65_536, size);
}
