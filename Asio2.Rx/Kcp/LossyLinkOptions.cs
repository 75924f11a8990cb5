namespace Asio2.Rx;

/// <summary>
/// How a <see cref="LossyLink"/> impairs the datagrams of one direction: loss, delay, reordering and
/// duplication, drawn from a seeded random generator so that a run repeats exactly.
/// </summary>
/// <remarks>
/// The link reads these values once, when it is constructed; changing the object afterwards does not
/// affect a link already built. The defaults describe a perfect link with no delay.
/// </remarks>
public sealed class LossyLinkOptions
{
    private double _lossRate;
    private double _duplicateRate;
    private double _reorderRate;
    private TimeSpan _minDelay;
    private TimeSpan _maxDelay;
    private TimeSpan _reorderDelay;

    /// <summary>
    /// Probability in [0, 1] that a datagram is dropped. Defaults to 0. A dropped datagram is neither
    /// delayed nor duplicated.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [0, 1].</exception>
    public double LossRate
    {
        get => _lossRate;
        set => _lossRate = Probability(value);
    }

    /// <summary>
    /// Shortest one-way delay. Defaults to zero. Even a zero delay is delivered through the scheduler,
    /// never from inside <see cref="LossyLinkEnd.Send"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public TimeSpan MinDelay
    {
        get => _minDelay;
        set => _minDelay = NonNegative(value);
    }

    /// <summary>
    /// Longest one-way delay; each datagram's delay is drawn uniformly from
    /// [<see cref="MinDelay"/>, <see cref="MaxDelay"/>], so a range wider than the gap between two
    /// sends reorders them. Defaults to zero. Must not be below <see cref="MinDelay"/> when the link is built.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public TimeSpan MaxDelay
    {
        get => _maxDelay;
        set => _maxDelay = NonNegative(value);
    }

    /// <summary>
    /// Probability in [0, 1] that a delivered datagram is also delivered a second time, with its own
    /// delay draw. Defaults to 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [0, 1].</exception>
    public double DuplicateRate
    {
        get => _duplicateRate;
        set => _duplicateRate = Probability(value);
    }

    /// <summary>
    /// Probability in [0, 1] that a datagram is held back by an extra <see cref="ReorderDelay"/>, so that
    /// datagrams sent after it overtake it: explicit reordering on top of what the delay range causes.
    /// Defaults to 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [0, 1].</exception>
    public double ReorderRate
    {
        get => _reorderRate;
        set => _reorderRate = Probability(value);
    }

    /// <summary>Extra delay of a datagram picked by <see cref="ReorderRate"/>. Defaults to zero.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public TimeSpan ReorderDelay
    {
        get => _reorderDelay;
        set => _reorderDelay = NonNegative(value);
    }

    /// <summary>
    /// Seed of the direction's random generator. Defaults to 0, so that runs repeat unless asked
    /// otherwise. A link built from one options object for both directions seeds B → A with
    /// <c>Seed + 1</c>, so the two directions do not mirror each other.
    /// </summary>
    public int Seed { get; set; }

    // Setters report the property's implicit parameter, "value".
    private static double Probability(double value) =>
        value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A probability must be between 0 and 1.");

    private static TimeSpan NonNegative(TimeSpan value) =>
        value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A delay cannot be negative.");
}
