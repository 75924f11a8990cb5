using System.Buffers.Binary;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary><see cref="LossyLink"/> in virtual time: its impairments, counters, determinism and lifetime.</summary>
public sealed class LossyLinkTests
{
    private static readonly TimeSpan Ms30 = TimeSpan.FromMilliseconds(30);
    private static readonly TimeSpan Ms60 = TimeSpan.FromMilliseconds(60);

    [Fact]
    public void LossRate_OverManyDatagrams_StaysWithinOnePercentPoint()
    {
        const int count = 100_000;
        Run run = Transfer(new LossyLinkOptions { LossRate = 0.10, Seed = 7 }, count);

        Assert.Equal(count, run.Link.A.Sent);
        Assert.InRange(run.Link.A.Dropped, 9_000, 11_000);
        Assert.Equal(count - run.Link.A.Dropped, run.Link.A.Delivered);
        Assert.Equal(run.Link.A.Delivered, run.Arrivals.Count);
        Assert.Equal(0, run.Link.A.InFlight);
    }

    [Fact]
    public void DuplicateRate_DeliversSomeDatagramsTwice()
    {
        const int count = 20_000;
        Run run = Transfer(new LossyLinkOptions { DuplicateRate = 0.05, MinDelay = Ms30, MaxDelay = Ms60, Seed = 3 }, count);

        Assert.InRange(run.Link.A.Duplicated, 800, 1_200);
        Assert.Equal(count + run.Link.A.Duplicated, run.Link.A.Delivered);
        int twice = run.Arrivals.GroupBy(a => a.Index).Count(g => g.Count() == 2);
        Assert.Equal(run.Link.A.Duplicated, twice);
        Assert.DoesNotContain(run.Arrivals.GroupBy(a => a.Index), g => g.Count() > 2);
    }

    [Fact]
    public void Delays_StayWithinTheRangeAndSpreadOverIt()
    {
        Run run = Transfer(new LossyLinkOptions { MinDelay = Ms30, MaxDelay = Ms60, Seed = 11 }, 5_000);

        TimeSpan[] delays = run.Arrivals.Select(a => a.Delay).ToArray();
        Assert.All(delays, d => Assert.InRange(d, Ms30, Ms60));
        Assert.True(delays.Min() < TimeSpan.FromMilliseconds(31) && delays.Max() > TimeSpan.FromMilliseconds(59),
            $"delays span only {delays.Min()}..{delays.Max()}");
    }

    [Fact]
    public void RandomDelay_WiderThanTheSendGap_ReordersDatagrams()
    {
        Run run = Transfer(new LossyLinkOptions { MinDelay = Ms30, MaxDelay = Ms60, Seed = 5 }, 1_000);

        Assert.Contains(run.Arrivals.Zip(run.Arrivals.Skip(1)), pair => pair.Second.Index < pair.First.Index);
    }

    [Fact]
    public void ReorderRate_HoldsDatagramsBackBehindLaterOnes()
    {
        var options = new LossyLinkOptions
        {
            MinDelay = Ms30, MaxDelay = Ms30, ReorderRate = 0.1, ReorderDelay = TimeSpan.FromMilliseconds(5), Seed = 9,
        };
        Run run = Transfer(options, 2_000);

        int heldBack = run.Arrivals.Count(a => a.Delay == TimeSpan.FromMilliseconds(35));
        Assert.InRange(heldBack, 120, 280);
        Assert.Equal(2_000 - heldBack, run.Arrivals.Count(a => a.Delay == Ms30));
        Assert.Contains(run.Arrivals.Zip(run.Arrivals.Skip(1)), pair => pair.Second.Index < pair.First.Index);
    }

    [Fact]
    public void EqualSeeds_GiveIdenticalRuns_AndOtherSeedsDiffer()
    {
        static LossyLinkOptions Options(int seed) => new()
        {
            LossRate = 0.2, DuplicateRate = 0.1, MinDelay = Ms30, MaxDelay = Ms60, ReorderRate = 0.1, ReorderDelay = Ms30, Seed = seed,
        };

        Run first = Transfer(Options(42), 2_000);
        Run second = Transfer(Options(42), 2_000);
        Run other = Transfer(Options(43), 2_000);

        Assert.Equal(first.Arrivals, second.Arrivals);
        Assert.NotEqual(first.Arrivals, other.Arrivals);
    }

    [Fact]
    public void OneOptionsObject_SeedsTheTwoDirectionsDifferently()
    {
        var scheduler = new TestScheduler();
        using var link = new LossyLink(new LossyLinkOptions { LossRate = 0.5, Seed = 1 }, scheduler);
        var atB = new List<int>();
        var atA = new List<int>();
        link.B.Received.Subscribe(d => atB.Add(d.Span[0]));
        link.A.Received.Subscribe(d => atA.Add(d.Span[0]));

        for (int i = 0; i < 100; i++)
        {
            link.A.Send([(byte)i]);
            link.B.Send([(byte)i]);
        }

        scheduler.Start();
        Assert.NotEqual(atB, atA);
    }

    [Fact]
    public void PerDirectionOptions_ImpairOnlyTheirDirection()
    {
        var scheduler = new TestScheduler();
        using var link = new LossyLink(new LossyLinkOptions { LossRate = 1 }, new LossyLinkOptions(), scheduler);
        int atA = 0;
        int atB = 0;
        link.A.Received.Subscribe(_ => atA++);
        link.B.Received.Subscribe(_ => atB++);

        for (int i = 0; i < 50; i++)
        {
            link.A.Send([1]);
            link.B.Send([2]);
        }

        scheduler.Start();
        Assert.Equal((0, 50), (atB, atA));
        Assert.Equal((50L, 0L), (link.A.Dropped, link.B.Dropped));
    }

    [Fact]
    public void Send_CopiesTheDatagramAndNeverDeliversBeforeTheSchedulerRuns()
    {
        var scheduler = new TestScheduler();
        using var link = new LossyLink(new LossyLinkOptions(), scheduler);
        var received = new List<byte[]>();
        link.B.Received.Subscribe(d => received.Add(d.ToArray()));
        byte[] datagram = [1, 2, 3];

        link.A.Send(datagram);
        datagram[0] = 99;
        Assert.Empty(received);
        Assert.Equal(1, link.A.InFlight);

        scheduler.Start();
        Assert.Equal([1, 2, 3], Assert.Single(received));
    }

    [Fact]
    public void DropAll_DropsNewDatagramsButLetsThoseInFlightArrive()
    {
        var scheduler = new TestScheduler();
        using var link = new LossyLink(new LossyLinkOptions { MinDelay = Ms30, MaxDelay = Ms30 }, scheduler);
        int received = 0;
        link.B.Received.Subscribe(_ => received++);

        link.A.Send([1]);
        link.A.DropAll = true;
        link.A.Send([2]);
        scheduler.Start();
        link.A.DropAll = false;
        link.A.Send([3]);
        scheduler.Start();

        Assert.Equal(2, received);
        Assert.Equal((3L, 1L, 2L), (link.A.Sent, link.A.Dropped, link.A.Delivered));
    }

    [Fact]
    public void Dispose_CompletesBothStreamsAndDiscardsDatagramsInFlight()
    {
        var scheduler = new TestScheduler();
        var link = new LossyLink(new LossyLinkOptions { MinDelay = Ms30, MaxDelay = Ms30 }, scheduler);
        int received = 0;
        bool aCompleted = false;
        bool bCompleted = false;
        link.A.Received.Subscribe(_ => received++, () => aCompleted = true);
        link.B.Received.Subscribe(_ => received++, () => bCompleted = true);

        link.A.Send([1]);
        link.Dispose();
        link.B.Send([2]);
        scheduler.Start();

        Assert.True(aCompleted && bCompleted);
        Assert.Equal(0, received);
        Assert.Equal((1L, 0L), (link.A.Sent, link.B.Sent));
    }

    [Fact]
    public void Options_RejectImpossibleValues()
    {
        var options = new LossyLinkOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => options.LossRate = -0.1);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.DuplicateRate = 1.5);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.ReorderRate = double.NaN);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MinDelay = TimeSpan.FromTicks(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.ReorderDelay = TimeSpan.FromTicks(-1));

        options.MinDelay = Ms60;
        options.MaxDelay = Ms30;
        Assert.Throws<ArgumentException>(() => new LossyLink(options, new TestScheduler()));
    }

    private sealed record Arrival(int Index, TimeSpan Delay);

    private sealed record Run(LossyLink Link, List<Arrival> Arrivals);

    // Sends `count` datagrams from A, one per virtual millisecond, each carrying its index and send time.
    private static Run Transfer(LossyLinkOptions options, int count)
    {
        var scheduler = new TestScheduler();
        var link = new LossyLink(options, scheduler);
        var arrivals = new List<Arrival>();
        link.B.Received.Subscribe(d => arrivals.Add(new Arrival(
            BinaryPrimitives.ReadInt32LittleEndian(d.Span),
            TimeSpan.FromTicks(scheduler.Clock - BinaryPrimitives.ReadInt64LittleEndian(d.Span[4..])))));

        var datagram = new byte[12];
        for (int i = 0; i < count; i++)
        {
            scheduler.AdvanceTo(i * TimeSpan.TicksPerMillisecond);
            BinaryPrimitives.WriteInt32LittleEndian(datagram, i);
            BinaryPrimitives.WriteInt64LittleEndian(datagram.AsSpan(4), scheduler.Clock);
            link.A.Send(datagram);
        }

        scheduler.Start();
        return new Run(link, arrivals);
    }
}
