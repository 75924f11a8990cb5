using System.Reactive.Concurrency;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Asio2.Rx;

/// <summary>
/// Settings for <see cref="Icmp.Ping(string, PingOptions?)"/>. Read once when <c>Ping</c> is called: changing the
/// options afterwards does not affect observables already created.
/// </summary>
public sealed class PingOptions
{
    /// <summary>The <see cref="Count"/> that pings until the subscription is disposed.</summary>
    public const int Forever = -1;

    private int _count = 4;
    private TimeSpan _interval = TimeSpan.FromSeconds(1);
    private TimeSpan _timeout = TimeSpan.FromSeconds(1);
    private ReadOnlyMemory<byte> _payload = DefaultPayload;
    private int? _ttl;

    /// <summary>The payload asio2 and Boost.Asio's ping example send: <c>"Hello!" from Asio ping.</c> (24 bytes).</summary>
    internal static readonly ReadOnlyMemory<byte> DefaultPayload = Encoding.ASCII.GetBytes("\"Hello!\" from Asio ping.");

    /// <summary>
    /// How many requests to send; the stream completes after that many replies or timeouts.
    /// <see cref="Forever"/> (-1) pings until disposed. Defaults to 4, as Windows <c>ping</c> does.
    /// </summary>
    public int Count
    {
        get => _count;
        set => _count = value is >= 1 or Forever ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Count must be at least 1, or PingOptions.Forever (-1).");
    }

    /// <summary>
    /// Time between requests; the first is sent on subscription. Positive. Defaults to 1 second, as <c>ping</c> does:
    /// frequent enough to notice an outage within seconds, rare enough to be no load on anyone's network.
    /// </summary>
    public TimeSpan Interval
    {
        get => _interval;
        set => _interval = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Interval must be positive.");
    }

    /// <summary>
    /// How long to wait for each reply before reporting it timed out; a reply that arrives later is ignored. Positive.
    /// Defaults to 1 second, equal to the default <see cref="Interval"/>: then at most one request is outstanding and
    /// results arrive in sequence order, and one second is far beyond any healthy round trip on Earth. With a longer
    /// timeout than interval, several requests are in flight and results are emitted as they are decided.
    /// </summary>
    public TimeSpan Timeout
    {
        get => _timeout;
        set => _timeout = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Timeout must be positive.");
    }

    /// <summary>
    /// Bytes carried by each request and echoed back, at most 65507 (what fits one IPv4 datagram); may be empty.
    /// Copied when <c>Ping</c> is called. Defaults to the 24 bytes asio2 sends, <c>"Hello!" from Asio ping.</c>
    /// (Linux <c>ping -s 56</c> is <c>new byte[56]</c>.)
    /// </summary>
    public ReadOnlyMemory<byte> Payload
    {
        get => _payload;
        set => _payload = value.Length <= IcmpCodec.MaxPayloadSize ? value : throw new ArgumentOutOfRangeException(nameof(value), value.Length, $"Payload must be at most {IcmpCodec.MaxPayloadSize} bytes.");
    }

    /// <summary>
    /// The TTL (IPv4) or hop limit (IPv6) of the requests, 1 to 255. Defaults to null: the system default (64 on Linux).
    /// </summary>
    public int? Ttl
    {
        get => _ttl;
        set => _ttl = value is null or (>= 1 and <= 255) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Ttl must be between 1 and 255.");
    }

    /// <summary>
    /// The echo identifier that tells our replies from other processes' (a raw socket sees every ICMP packet of the host).
    /// Defaults to null: a different identifier for every subscription, so concurrent pings in one process never take
    /// each other's replies. Linux datagram ICMP sockets ignore it and use the socket's own identifier.
    /// </summary>
    public ushort? Identifier { get; set; }

    /// <summary>
    /// The scheduler that sends requests, times out replies and delivers results (one at a time, never concurrently, replies in the order they arrived);
    /// round-trip times are measured with its stopwatch, so a <c>TestScheduler</c> gives exact virtual times.
    /// Defaults to null: <see cref="DefaultScheduler.Instance"/>.
    /// </summary>
    public IScheduler? Scheduler { get; set; }

    /// <summary>Where send failures and receive errors are logged. Defaults to null: not logged.</summary>
    public ILogger? Logger { get; set; }

    internal PingSettings Resolve() => new(
        Count, Interval, Timeout, Payload.ToArray(), Ttl, Identifier,
        Scheduler ?? DefaultScheduler.Instance, Logger ?? NullLogger.Instance);
}

/// <summary>The resolved, immutable form of <see cref="PingOptions"/> that the implementation works with.</summary>
internal sealed record PingSettings(
    int Count, TimeSpan Interval, TimeSpan Timeout, byte[] Payload, int? Ttl, ushort? Identifier, IScheduler Scheduler, ILogger Logger);
