namespace Asio2.Rx;

/// <summary>
/// A byte rate: <see cref="BytesPerSecond"/> on average, with up to <see cref="Burst"/> bytes at once after a quiet
/// spell. A token bucket: it holds at most <see cref="Burst"/> tokens, refills at <see cref="BytesPerSecond"/>, and a
/// byte may pass only with a token. Time comes from a scheduler, so a <c>TestScheduler</c> makes the schedule exact.
/// </summary>
/// <remarks>
/// <para>Used by <see cref="SessionOptions.ReadRateLimit"/> and <see cref="SessionOptions.WriteRateLimit"/> (every
/// session type), and by the <see cref="RateLimitObservable.RateLimit{T}(IObservable{T}, RateLimit, Func{T, int}, System.Reactive.Concurrency.IScheduler?)"/>
/// operator for any stream. Over budget, data waits; nothing is dropped.</para>
/// <para><b>The schedule.</b> The bucket starts full, so the first <see cref="Burst"/> bytes pass at once. A byte
/// stream then moves whatever tokens there are; when there are none it waits until the bucket holds
/// <c>min(wanted, Burst)</c> again. So a backlog drains in steps of <see cref="Burst"/> bytes every
/// <c>Burst / BytesPerSecond</c> seconds. Indivisible items (a message, an item of the operator) wait until the bucket
/// holds <c>min(size, Burst)</c> and then take their whole size: an item larger than the burst leaves the bucket in
/// debt, repaid before the next one passes, so the long-run rate holds for any item size.</para>
/// <para><b>Real time.</b> A timer that fires late does not lose budget: while something waits, tokens accrue past
/// the burst, so the achieved rate matches the limit however coarse the scheduler's timers are (a 10 MB/s write
/// limit measured 10 000 783 B/s over 10 s on loopback). Otherwise the bucket stops at <see cref="Burst"/>, as any token
/// bucket does: a consumer that is held up for longer than <c>Burst / BytesPerSecond</c> with tokens in hand (a long
/// GC pause, a starved CPU) loses the difference. Keep the burst above such pauses; the default's 100 ms is.</para>
/// </remarks>
public sealed class RateLimit
{
    /// <summary>Creates a limit of <paramref name="bytesPerSecond"/> with a burst of <paramref name="burst"/> bytes.</summary>
    /// <param name="bytesPerSecond">The average rate; at least 1.</param>
    /// <param name="burst">The bucket size: the most bytes that pass at once. Defaults to a tenth of a second's worth
    /// (at least 1 byte): small enough to look smooth to a protocol and a human, large enough that a limited session
    /// wakes up at most about ten times a second per direction when it has a backlog.</param>
    public RateLimit(long bytesPerSecond, long? burst = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        if (burst is { } b) ArgumentOutOfRangeException.ThrowIfLessThan(b, 1, nameof(burst));
        BytesPerSecond = bytesPerSecond;
        Burst = burst ?? Math.Max(1, bytesPerSecond / 10);
    }

    /// <summary>The average rate in bytes per second.</summary>
    public long BytesPerSecond { get; }

    /// <summary>The most bytes that pass at once (the bucket's size).</summary>
    public long Burst { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{BytesPerSecond} B/s, burst {Burst} B";
}
