using System.Diagnostics;
using System.Reactive.Concurrency;
using Microsoft.Reactive.Testing;
using Xunit.Abstractions;
// The test namespace Asio2.Rx.Tests.Kcp hides the type name Kcp.
using KcpEndpoint = Asio2.Rx.Kcp;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// Two <see cref="KcpEndpoint"/>s talking through a <see cref="LossyLink"/> on a <see cref="TestScheduler"/>,
/// each updated at the time its <see cref="KcpEndpoint.Check"/> asks for: messages must arrive intact and
/// in order, entirely in virtual time.
/// </summary>
public sealed class KcpOverLossyLinkTests(ITestOutputHelper output)
{
    private const int MaxMessageSize = 60 * 1024;

    /// <summary>Give up (and fail) if a transfer has not finished after this much virtual time.</summary>
    private static readonly TimeSpan VirtualTimeLimit = TimeSpan.FromMinutes(30);

    [Fact]
    public void TenThousandMessagesUpTo60KiB_CrossTenPercentLossAnd30To60MsDelay_IntactAndInOrder()
    {
        var link = new LossyLinkOptions
        {
            LossRate = 0.10, MinDelay = TimeSpan.FromMilliseconds(30), MaxDelay = TimeSpan.FromMilliseconds(60), Seed = 20240,
        };
        Transfer transfer = Run(link, KcpPreset.Fast with { SendWindow = 1024, ReceiveWindow = 1024 }, messages: 10_000, seed: 1);

        Assert.Equal(10_000, transfer.Received);
        Assert.True(transfer.Link.A.Dropped > 0 && transfer.Link.B.Dropped > 0, "the link lost nothing");
        Assert.True(transfer.TimeoutRetransmissions > 0, "nothing was retransmitted");
    }

    [Fact]
    public void NormalPresetWithCongestionControl_RecoversFromLossReorderingAndDuplicates()
    {
        var link = new LossyLinkOptions
        {
            LossRate = 0.05, DuplicateRate = 0.05, MinDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(40),
            ReorderRate = 0.05, ReorderDelay = TimeSpan.FromMilliseconds(50), Seed = 77,
        };
        Transfer transfer = Run(link, KcpPreset.Normal with { SendWindow = 128, ReceiveWindow = 128 }, messages: 300, seed: 2);

        Assert.Equal(300, transfer.Received);
        Assert.True(transfer.Link.A.Duplicated > 0 && transfer.Link.A.Dropped > 0, "the link neither lost nor duplicated");
    }

    [Fact]
    public void EqualSeeds_RepeatTheSameTransferExactly()
    {
        var link = new LossyLinkOptions { LossRate = 0.1, MinDelay = TimeSpan.FromMilliseconds(30), MaxDelay = TimeSpan.FromMilliseconds(60), Seed = 5 };
        KcpPreset preset = KcpPreset.Fast with { SendWindow = 256, ReceiveWindow = 256 };

        Transfer first = Run(link, preset, messages: 200, seed: 3);
        Transfer second = Run(link, preset, messages: 200, seed: 3);

        Assert.Equal(first.FinishedAt, second.FinishedAt);
        Assert.Equal((first.Link.A.Sent, first.Link.B.Sent), (second.Link.A.Sent, second.Link.B.Sent));
    }

    private sealed record Transfer(int Received, LossyLink Link, uint TimeoutRetransmissions, TimeSpan FinishedAt);

    /// <summary>
    /// A sends <paramref name="messages"/> messages of seeded random sizes (1 B .. 60 KiB) to B; B checks
    /// each one as it is read. Both run until every message is read and A has nothing unacknowledged.
    /// </summary>
    private Transfer Run(LossyLinkOptions linkOptions, KcpPreset preset, int messages, int seed)
    {
        var stopwatch = Stopwatch.StartNew();
        var scheduler = new TestScheduler();
        using var link = new LossyLink(linkOptions, scheduler);
        var random = new Random(seed);
        int[] sizes = Enumerable.Range(0, messages).Select(_ => random.Next(1, MaxMessageSize + 1)).ToArray();
        byte[] content = new byte[ContentOffsets + MaxMessageSize];
        random.NextBytes(content);

        using var sender = new Driver(scheduler, link.A, preset);
        using var receiver = new Driver(scheduler, link.B, preset);
        int sent = 0;
        int received = 0;
        var incoming = new byte[MaxMessageSize];

        // Keep about two windows queued: enough to fill the pipe without queueing every message at once.
        sender.BeforeUpdate = kcp =>
        {
            while (sent < messages && kcp.WaitSnd < 2 * kcp.SendWindow)
            {
                Assert.Equal(sizes[sent], kcp.Send(Message(content, sent, sizes[sent])));
                sent++;
            }
        };
        receiver.AfterInput = kcp =>
        {
            int length;
            while ((length = kcp.Receive(incoming)) >= 0)
            {
                Assert.True(received < messages, "more messages than were sent");
                Assert.True(sizes[received] == length, $"message {received}: {length} bytes instead of {sizes[received]}");
                Assert.True(incoming.AsSpan(0, length).SequenceEqual(Message(content, received, length)), $"message {received} corrupted");
                received++;
            }

            Assert.NotEqual(-3, length); // the buffer fits every message
        };
        Func<bool> finished = () => received == messages && sender.Kcp.WaitSnd == 0;
        sender.Start(finished);
        receiver.Start(finished);

        scheduler.Start();

        var finishedAt = TimeSpan.FromTicks(scheduler.Clock);
        output.WriteLine(
            $"{received}/{messages} messages ({sizes.Sum(s => (long)s) / 1024.0 / 1024.0:F1} MiB) in {finishedAt.TotalSeconds:F1} s virtual, " +
            $"{stopwatch.Elapsed.TotalSeconds:F2} s real; A sent {link.A.Sent} datagrams ({link.A.Dropped} dropped), " +
            $"B sent {link.B.Sent} ({link.B.Dropped} dropped); {sender.Kcp.TimeoutRetransmissions} timeout retransmissions");
        Assert.False(sender.Kcp.IsDeadLink, "the sender declared the link dead");
        return new Transfer(received, link, sender.Kcp.TimeoutRetransmissions, finishedAt);
    }

    // Message i is random content read from offset i·7919 mod 65536: every message starts at a different
    // offset (7919 is odd), so a misplaced, reordered or corrupted byte shows, at memcpy cost.
    private const int ContentOffsets = 65_536;

    private static ReadOnlySpan<byte> Message(byte[] content, int index, int size) =>
        content.AsSpan(index * 7919 % ContentOffsets, size);

    /// <summary>
    /// Runs one endpoint the way a session would: datagrams from its link end go to Input; Update runs at
    /// the virtual millisecond Check returns, and is rescheduled after each run until the transfer is over.
    /// </summary>
    private sealed class Driver : IDisposable
    {
        private readonly TestScheduler _scheduler;
        private readonly IDisposable _subscription;
        private Func<bool> _finished = () => true;

        public Driver(TestScheduler scheduler, LossyLinkEnd end, KcpPreset preset)
        {
            _scheduler = scheduler;
            Kcp = new KcpEndpoint(1, static (packet, state) => ((LossyLinkEnd)state!).Send(packet), end);
            Kcp.Apply(preset);
            _subscription = end.Received.Subscribe(datagram =>
            {
                Assert.Equal(0, Kcp.Input(datagram.Span));
                AfterInput?.Invoke(Kcp);
            });
        }

        public KcpEndpoint Kcp { get; }

        public Action<KcpEndpoint>? BeforeUpdate { get; set; }

        public Action<KcpEndpoint>? AfterInput { get; set; }

        // The KCP clock is the scheduler's in whole milliseconds, offset so that it wraps past 2^32 early on.
        private uint Now => unchecked((uint)(_scheduler.Clock / TimeSpan.TicksPerMillisecond) + (uint.MaxValue - 4_999));

        public void Start(Func<bool> finished)
        {
            _finished = finished;
            _scheduler.Schedule(TimeSpan.Zero, Tick);
        }

        public void Dispose()
        {
            _subscription.Dispose();
            Kcp.Dispose();
        }

        private void Tick()
        {
            if (_finished() || _scheduler.Clock > VirtualTimeLimit.Ticks)
            {
                return;
            }

            BeforeUpdate?.Invoke(Kcp);
            uint now = Now;
            Kcp.Update(now);

            // Check answers in KCP milliseconds; wake at the start of that millisecond. It can answer "now"
            // right after an update (a resend falls due before the next flush time, and Update flushes only
            // at the flush time), so wake no earlier than the next millisecond, the clock's resolution.
            long nextMs = _scheduler.Clock / TimeSpan.TicksPerMillisecond + Math.Max(1, Kcp.Check(now) - now);
            _scheduler.Schedule(TimeSpan.FromTicks(nextMs * TimeSpan.TicksPerMillisecond - _scheduler.Clock), Tick);
        }
    }
}
