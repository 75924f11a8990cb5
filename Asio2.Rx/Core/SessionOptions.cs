using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Asio2.Rx;

/// <summary>What happens when a <c>Send</c> would push a session's send queue past <see cref="SessionOptions.MaxSendQueueBytes"/>.</summary>
public enum SendQueueFullPolicy
{
    /// <summary>Close the session with <see cref="CloseKind.SendQueueOverflow"/> (the default): a peer that stopped reading
    /// is almost always broken, and closing frees its memory at once.</summary>
    Close,
    /// <summary>Refuse this send (its completion faults with <see cref="SendRejectedException"/>) and keep the session open.</summary>
    Reject,
}

/// <summary>
/// Settings every session has, whatever its transport. Transports' options classes derive from this.
/// Values are read once when a server or client is created; changing them later has no effect on it.
/// </summary>
public class SessionOptions
{
    private Framing _framing = Framing.Raw;
    private int _maxSendQueueBytes = 4 * 1024 * 1024;
    private int _maxPendingReceiveBytes = 1024 * 1024;
    private int _receiveBufferSize = 16 * 1024;
    private TimeSpan? _silenceTimeout;
    private TimeSpan _drainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How received bytes are cut into frames and how sent frames are headed. Defaults to <see cref="Framing.Raw"/>
    /// (bytes as they arrive), asio2's default.</summary>
    public Framing Framing
    {
        get => _framing;
        set => _framing = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The schedulers sessions are pinned to. Defaults to <see cref="SchedulerPool.Shared"/> (one event loop per core).
    /// Pass <c>new SchedulerPool(testScheduler)</c> to run in virtual time.</summary>
    public SchedulerPool? Schedulers { get; set; }

    /// <summary>Bound, in bytes, of data accepted by <c>Send</c> but not yet written. Defaults to 4 MiB: room for
    /// bursts, yet a peer that never reads costs at most this much memory. See <see cref="SendQueueFullPolicy"/>.</summary>
    public int MaxSendQueueBytes
    {
        get => _maxSendQueueBytes;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxSendQueueBytes = value; }
    }

    /// <summary>What to do when a send would exceed <see cref="MaxSendQueueBytes"/>. Defaults to <see cref="SendQueueFullPolicy.Close"/>.</summary>
    public SendQueueFullPolicy SendQueueFullPolicy { get; set; } = SendQueueFullPolicy.Close;

    /// <summary>Bound, in bytes, of frames delivered to the session's scheduler but not yet processed by subscribers.
    /// Past it the session stops reading until subscribers catch up, and transport flow control slows the peer.
    /// Byte-stream sessions (TCP, TLS, serial) deliver each read's frames on the scheduler before reading again, so
    /// at most one read waits for subscribers whatever this says; the bound matters for message transports (UDP, KCP),
    /// whose datagrams arrive on a shared socket, and caps a WebSocket session's batches of messages (64 KiB at most).
    /// Defaults to 1 MiB.</summary>
    public int MaxPendingReceiveBytes
    {
        get => _maxPendingReceiveBytes;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxPendingReceiveBytes = value; }
    }

    /// <summary>Initial size of a stream session's receive buffer. It grows when a frame needs more (up to the
    /// framing's maximum frame), and doubles while reads keep filling it, up to 64 KiB (a busy connection takes more per
    /// read); a session that goes idle returns it and starts again from this size. Defaults to 16 KiB: one read takes
    /// many small frames at once.</summary>
    public int ReceiveBufferSize
    {
        get => _receiveBufferSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 256); _receiveBufferSize = value; }
    }

    /// <summary>Close a session with <see cref="CloseKind.SilenceTimeout"/> when nothing was received for this long.
    /// Defaults to null (never): an idle connection is not an error unless the application says so.</summary>
    public TimeSpan? SilenceTimeout
    {
        get => _silenceTimeout;
        set
        {
            if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            _silenceTimeout = value;
        }
    }

    /// <summary>How long a graceful close (or a server stop) waits for queued sends to be written before aborting.
    /// Defaults to 5 s.</summary>
    public TimeSpan DrainTimeout
    {
        get => _drainTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero); _drainTimeout = value; }
    }

    /// <summary>Where connection events, closes and user-code faults are logged. Defaults to null (no logging).</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Limits how fast a session reads, or null for no limit. Over budget the session stops reading, so the
    /// bytes wait in the kernel (or the device) and transport flow control slows the peer; nothing is dropped.
    /// Timed on the session's scheduler. Defaults to null: limiting is a policy the application chooses.</summary>
    public RateLimit? ReadRateLimit { get; set; }

    /// <summary>Limits how fast a session writes, or null for no limit. Over budget, queued sends wait their turn
    /// (and count against <see cref="MaxSendQueueBytes"/>); nothing is dropped. Independent of <see cref="ReadRateLimit"/>.
    /// Defaults to null.</summary>
    public RateLimit? WriteRateLimit { get; set; }

    /// <summary>
    /// Where the library's instruments (the <c>Asio2.Rx</c> meter: sessions, bytes, drops, HTTP, KCP) come from for
    /// these sessions: a hosted app's <see cref="IMeterFactory"/> (the hosting package fills it from dependency
    /// injection), so the meter belongs to that container and is disposed with it. Null (the default): the
    /// process-wide <c>Asio2.Rx</c> meter. Either way the meter is named "Asio2.Rx".
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    internal SessionSettings Resolve(string transport) => new(
        transport,
        _framing,
        Schedulers ?? SchedulerPool.Shared,
        _maxSendQueueBytes,
        SendQueueFullPolicy,
        _maxPendingReceiveBytes,
        _receiveBufferSize,
        _silenceTimeout,
        _drainTimeout,
        Logger ?? NullLogger.Instance)
    {
        ReadRateLimit = ReadRateLimit,
        WriteRateLimit = WriteRateLimit,
        Metrics = Asio2Metrics.For(MeterFactory),
    };
}

/// <summary>Resolved, immutable session settings: internals never read the mutable options object.</summary>
internal sealed record SessionSettings(
    string Transport,
    Framing Framing,
    SchedulerPool Schedulers,
    int MaxSendQueueBytes,
    SendQueueFullPolicy SendQueueFullPolicy,
    int MaxPendingReceiveBytes,
    int ReceiveBufferSize,
    TimeSpan? SilenceTimeout,
    TimeSpan DrainTimeout,
    ILogger Logger)
{
    /// <summary>Null: reading is not limited.</summary>
    public RateLimit? ReadRateLimit { get; init; }

    /// <summary>The instruments these sessions count on.</summary>
    public Asio2Metrics Metrics { get; init; } = Asio2Metrics.Default;

    /// <summary>Null: writing is not limited.</summary>
    public RateLimit? WriteRateLimit { get; init; }
}
