namespace Asio2.Rx;

/// <summary>
/// A named set of <see cref="Kcp.NoDelay"/> arguments plus windows, applied with <see cref="Kcp.Apply"/>.
/// </summary>
/// <param name="NoDelay">ikcp's nodelay: 0 normal, 1 fast, 2 fast with gentler timeout growth.</param>
/// <param name="Interval">Update interval in ms (10..5000).</param>
/// <param name="FastResend">Acks skipping a segment that trigger its fast resend; 0 disables.</param>
/// <param name="NoCongestionWindow">True turns congestion control off.</param>
/// <param name="SendWindow">Send window in segments; 0 keeps the current one.</param>
/// <param name="ReceiveWindow">Receive window in segments (at least 128); 0 keeps the current one.</param>
internal readonly record struct KcpPreset(
    int NoDelay, int Interval, int FastResend, bool NoCongestionWindow, int SendWindow = 0, int ReceiveWindow = 0)
{
    /// <summary>TCP-like: nodelay(0, 40, 0, 0), congestion control on, default windows 32/128.</summary>
    public static KcpPreset Normal { get; } = new(0, 40, 0, false);

    /// <summary>Low latency: nodelay(1, 10, 2, 1), default windows 32/128.</summary>
    public static KcpPreset Fast { get; } = new(1, 10, 2, true);

    /// <summary>What asio2 sets on every KCP session: the fast preset with windows 128 (send) / 512 (receive).</summary>
    public static KcpPreset Asio2 { get; } = Fast with { SendWindow = 128, ReceiveWindow = 512 };
}
