using System.Globalization;

namespace Asio2.Rx;

/// <summary>
/// Running totals over the replies of a ping, as <c>ping</c> prints them at the end. Emitted by
/// <see cref="Icmp.Statistics(IObservable{PingReply})"/> after every reply.
/// </summary>
/// <param name="Sent">Requests whose outcome is known: replies plus timeouts. Requests still in flight are not counted.</param>
/// <param name="Received">Requests answered within the timeout.</param>
/// <param name="Min">The shortest round-trip time; <see cref="TimeSpan.Zero"/> while <paramref name="Received"/> is 0 (also for the other times).</param>
/// <param name="Average">The mean round-trip time.</param>
/// <param name="Max">The longest round-trip time.</param>
/// <param name="StdDev">The population standard deviation of the round-trip times, what Linux <c>ping</c> prints as <c>mdev</c>.</param>
public readonly record struct PingStatistics(long Sent, long Received, TimeSpan Min, TimeSpan Average, TimeSpan Max, TimeSpan StdDev)
{
    /// <summary>Requests that timed out.</summary>
    public long Lost => Sent - Received;

    /// <summary>Lost requests in percent of <see cref="Sent"/>, 0 to 100; 0 when nothing was sent yet.</summary>
    public double LossPercent => Sent == 0 ? 0 : 100.0 * Lost / Sent;

    /// <summary>Two lines like <c>ping</c>'s summary.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Sent} packets transmitted, {Received} received, {LossPercent:0.#}% packet loss\n" +
        $"rtt min/avg/max/mdev = {Min.TotalMilliseconds:0.###}/{Average.TotalMilliseconds:0.###}/{Max.TotalMilliseconds:0.###}/{StdDev.TotalMilliseconds:0.###} ms");
}

/// <summary>
/// Folds replies into <see cref="PingStatistics"/>. Immutable, so it works as the state of <c>Scan</c>.
/// The mean and variance use Welford's update, which stays exact for the small integers tests use and does not lose
/// precision the way a running sum of squares does on long runs.
/// </summary>
internal readonly record struct PingStatisticsAccumulator(long Sent, long Received, long MinTicks, long MaxTicks, double Mean, double M2)
{
    public PingStatisticsAccumulator Add(PingReply reply)
    {
        if (reply.TimedOut) return this with { Sent = Sent + 1 };

        long x = reply.RoundTripTime.Ticks;
        long n = Received + 1;
        double delta = x - Mean;
        double mean = Mean + delta / n;
        return new PingStatisticsAccumulator(
            Sent + 1,
            n,
            Received == 0 ? x : Math.Min(MinTicks, x),
            Received == 0 ? x : Math.Max(MaxTicks, x),
            mean,
            M2 + delta * (x - mean));
    }

    public PingStatistics ToStatistics() => Received == 0
        ? new PingStatistics(Sent, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero)
        : new PingStatistics(
            Sent,
            Received,
            TimeSpan.FromTicks(MinTicks),
            TimeSpan.FromTicks((long)Math.Round(Mean)),
            TimeSpan.FromTicks(MaxTicks),
            TimeSpan.FromTicks((long)Math.Round(Math.Sqrt(M2 / Received))));
}
