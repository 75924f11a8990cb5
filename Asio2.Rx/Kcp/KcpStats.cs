using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>
/// What one KCP session's engine measured: round-trip estimate, windows, transmissions and drops. A value; take a new
/// one with <see cref="KcpSessionExtensions.KcpStats(Session)"/> or sample them with
/// <see cref="KcpSessionExtensions.SampleKcpStats(Session, TimeSpan)"/>.
/// </summary>
public sealed record KcpStats
{
    /// <summary>Smoothed round-trip time (ikcp's rx_srtt); zero before the first acknowledgement.</summary>
    public TimeSpan SmoothedRtt { get; init; }

    /// <summary>Smoothed mean deviation of the round-trip time (ikcp's rx_rttval).</summary>
    public TimeSpan RttVariance { get; init; }

    /// <summary>The retransmission timeout a new segment gets (ikcp's rx_rto).</summary>
    public TimeSpan RetransmitTimeout { get; init; }

    /// <summary>Round-trip samples taken so far.</summary>
    public long RttSamples { get; init; }

    /// <summary>Congestion window in segments (ikcp's cwnd; not applied when congestion control is off).</summary>
    public int CongestionWindow { get; init; }

    /// <summary>Send window in segments.</summary>
    public int SendWindow { get; init; }

    /// <summary>Receive window in segments.</summary>
    public int ReceiveWindow { get; init; }

    /// <summary>The window the peer last advertised, in segments.</summary>
    public int RemoteWindow { get; init; }

    /// <summary>Data segments transmitted, first transmissions and retransmissions.</summary>
    public long SegmentsSent { get; init; }

    /// <summary>Retransmissions because a segment's timeout passed.</summary>
    public long TimeoutRetransmissions { get; init; }

    /// <summary>Fast retransmissions: a segment skipped by enough later acknowledgements.</summary>
    public long FastRetransmissions { get; init; }

    /// <summary>Segments sent and not yet acknowledged.</summary>
    public int SegmentsInFlight { get; init; }

    /// <summary>Payload bytes sent and not yet acknowledged.</summary>
    public int BytesInFlight { get; init; }

    /// <summary>Datagrams this session dropped, by reason (<c>kcp_wrong_conv</c>, <c>kcp_truncated</c>,
    /// <c>kcp_bad_command</c>, <c>kcp_illegal_length</c>, <c>receive_backlog</c>, ...). Drops of datagrams that
    /// belong to no session are counted by the server (<see cref="KcpServer.DroppedDatagrams"/>).</summary>
    public IReadOnlyDictionary<string, long> DroppedDatagrams { get; init; } = new Dictionary<string, long>();
}

/// <summary>KCP statistics on the session API.</summary>
public static class KcpSessionExtensions
{
    /// <summary>The session's KCP statistics now. Exact on the session's <see cref="Session.Scheduler"/>; from another
    /// thread each figure is read whole but not in step with the others. Still readable after the session closed.</summary>
    /// <exception cref="ArgumentException"><paramref name="session"/> is not a KCP session.</exception>
    public static KcpStats KcpStats(this Session session) => AsKcp(session).Stats();

    /// <summary>The session's KCP statistics every <paramref name="interval"/>, taken on the session's scheduler (so
    /// each value is consistent), until the session closes. Cold: each subscription samples on its own.</summary>
    /// <exception cref="ArgumentException"><paramref name="session"/> is not a KCP session.</exception>
    public static IObservable<KcpStats> SampleKcpStats(this Session session, TimeSpan interval)
    {
        var kcp = AsKcp(session);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return Observable.Interval(interval, kcp.Scheduler).Select(_ => kcp.Stats()).TakeUntil(kcp.Closed);
    }

    private static KcpSession AsKcp(Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return session as KcpSession ?? throw new ArgumentException($"{session} is not a KCP session.", nameof(session));
    }
}
