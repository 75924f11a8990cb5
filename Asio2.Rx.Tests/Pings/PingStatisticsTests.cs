using System.Net;
using System.Reactive.Linq;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

public sealed class PingStatisticsTests
{
    private static PingReply Reply(long sequence, double rttMs) => new(sequence, IPAddress.Loopback, 64, TimeSpan.FromMilliseconds(rttMs), false, 32);

    private static PingReply Lost(long sequence) => new(sequence, IPAddress.Loopback, null, TimeSpan.Zero, true, 0);

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static async Task<IList<PingStatistics>> StatisticsOf(params PingReply[] replies) =>
        await replies.ToObservable().Statistics().ToList();

    [Fact]
    public async Task Statistics_count_losses_and_compute_min_average_max_and_population_stddev_exactly()
    {
        // The textbook sample 2 4 4 4 5 5 7 9 has mean 5 and population standard deviation 2.
        double[] rtts = [2, 4, 4, 4, 5, 5, 7, 9];
        PingReply[] replies = [.. rtts.Select((rtt, i) => Reply(i, rtt)), Lost(8), Lost(9)];

        PingStatistics last = (await StatisticsOf(replies))[^1];

        Assert.Equal(new PingStatistics(10, 8, Ms(2), Ms(5), Ms(9), Ms(2)), last);
        Assert.Equal(2, last.Lost);
        Assert.Equal(20, last.LossPercent);
    }

    [Fact]
    public async Task Statistics_are_emitted_after_every_reply_as_running_totals()
    {
        IList<PingStatistics> running = await StatisticsOf(Reply(0, 10), Lost(1), Reply(2, 30));

        Assert.Equal(
            [
                new PingStatistics(1, 1, Ms(10), Ms(10), Ms(10), TimeSpan.Zero),
                new PingStatistics(2, 1, Ms(10), Ms(10), Ms(10), TimeSpan.Zero),
                new PingStatistics(3, 2, Ms(10), Ms(20), Ms(30), Ms(10)),
            ],
            running);
        Assert.Equal([0, 50, 100 / 3.0], running.Select(s => s.LossPercent));
    }

    [Fact]
    public async Task Statistics_with_every_request_lost_report_full_loss_and_zero_times()
    {
        PingStatistics last = (await StatisticsOf(Lost(0), Lost(1)))[^1];

        Assert.Equal(new PingStatistics(2, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), last);
        Assert.Equal(100, last.LossPercent);
    }

    [Fact]
    public void Statistics_before_any_reply_report_no_loss()
    {
        Assert.Equal(0, default(PingStatistics).LossPercent);
    }

    [Fact]
    public async Task Statistics_of_an_empty_ping_emit_nothing_and_complete()
    {
        Assert.Empty(await StatisticsOf());
    }

    [Fact]
    public void Statistics_print_like_the_summary_of_ping()
    {
        var statistics = new PingStatistics(4, 3, Ms(0.041), Ms(0.05), Ms(0.062), Ms(0.009));

        Assert.Equal("4 packets transmitted, 3 received, 25% packet loss\nrtt min/avg/max/mdev = 0.041/0.05/0.062/0.009 ms", statistics.ToString());
    }

    [Fact]
    public void Replies_print_like_the_lines_of_ping()
    {
        Assert.Equal("32 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.052 ms", Reply(3, 0.052).ToString());
        Assert.Equal("32 bytes from 127.0.0.1: icmp_seq=3 time=0.052 ms", (Reply(3, 0.052) with { Ttl = null }).ToString());
        Assert.Equal("Request timeout for 127.0.0.1: icmp_seq=4", Lost(4).ToString());
    }
}
