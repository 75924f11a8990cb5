namespace Asio2.Rx;

/// <summary>The fate of one datagram: dropped, or delivered after a delay and possibly once more.</summary>
/// <param name="Dropped">The datagram is lost; the other fields are meaningless.</param>
/// <param name="Delay">When to deliver it, from the moment it was sent.</param>
/// <param name="Duplicated">Deliver a second copy too.</param>
/// <param name="DuplicateDelay">When to deliver the second copy.</param>
internal readonly record struct LinkVerdict(bool Dropped, TimeSpan Delay, bool Duplicated, TimeSpan DuplicateDelay);

/// <summary>
/// Decides the fate of each datagram of one direction from <see cref="LossyLinkOptions"/> and a seeded
/// <see cref="Random"/>. It knows nothing about delivery, so the in-process <see cref="LossyLink"/> and a
/// relay between two UDP sockets can share it (this kernel has no netem).
/// </summary>
/// <remarks>
/// Not thread-safe: the caller serialises <see cref="Next"/>. Draws are made only for the features that
/// are on, in a fixed order (loss, delay, reorder, duplicate, duplicate's delay and reorder), so equal
/// options and seed give equal verdicts.
/// </remarks>
internal sealed class LossyLinkPolicy
{
    private readonly Random _random;
    private readonly double _lossRate;
    private readonly double _duplicateRate;
    private readonly double _reorderRate;
    private readonly long _minDelayTicks;
    private readonly long _delayRangeTicks;
    private readonly long _reorderDelayTicks;

    /// <summary>Resolves <paramref name="options"/> and seeds the generator with <paramref name="seed"/>.</summary>
    /// <exception cref="ArgumentException"><see cref="LossyLinkOptions.MaxDelay"/> is below <see cref="LossyLinkOptions.MinDelay"/>.</exception>
    internal LossyLinkPolicy(LossyLinkOptions options, int seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxDelay < options.MinDelay)
        {
            throw new ArgumentException($"MaxDelay ({options.MaxDelay}) is below MinDelay ({options.MinDelay}).", nameof(options));
        }

        _random = new Random(seed);
        _lossRate = options.LossRate;
        _duplicateRate = options.DuplicateRate;
        _reorderRate = options.ReorderRate;
        _minDelayTicks = options.MinDelay.Ticks;
        _delayRangeTicks = options.MaxDelay.Ticks - options.MinDelay.Ticks;
        _reorderDelayTicks = options.ReorderDelay.Ticks;
    }

    /// <summary>Decides the fate of the next datagram.</summary>
    internal LinkVerdict Next()
    {
        if (_lossRate > 0 && _random.NextDouble() < _lossRate)
        {
            return new LinkVerdict(Dropped: true, TimeSpan.Zero, Duplicated: false, TimeSpan.Zero);
        }

        TimeSpan delay = DrawDelay();
        bool duplicated = _duplicateRate > 0 && _random.NextDouble() < _duplicateRate;
        return new LinkVerdict(Dropped: false, delay, duplicated, duplicated ? DrawDelay() : TimeSpan.Zero);
    }

    // Uniform over [min, max] in ticks, plus the reorder hold-back when drawn.
    private TimeSpan DrawDelay()
    {
        long ticks = _minDelayTicks;
        if (_delayRangeTicks > 0)
        {
            ticks += _random.NextInt64(_delayRangeTicks + 1);
        }

        if (_reorderRate > 0 && _random.NextDouble() < _reorderRate)
        {
            ticks += _reorderDelayTicks;
        }

        return TimeSpan.FromTicks(ticks);
    }
}
