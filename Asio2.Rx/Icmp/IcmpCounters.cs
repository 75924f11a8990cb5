using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>
/// What happened to the packets of one ping: the numbers behind "counted, not crashed". Tests read them; every
/// increment also feeds the <c>Asio2.Rx</c> meter, so <c>dotnet-counters</c> and OpenTelemetry see ping traffic.
/// </summary>
/// <remarks>Thread safety: increments are atomic; the receive loop and the scheduler both count.</remarks>
internal sealed class IcmpCounters
{
    private static IcmpInstruments Meter => Asio2Metrics.Default.Icmp;

    private long _sent, _sendFailures, _replies, _timeouts, _late, _unmatched, _malformed;

    /// <summary>Requests handed to the socket.</summary>
    public long Sent => Volatile.Read(ref _sent);
    /// <summary>Requests the socket refused (they time out).</summary>
    public long SendFailures => Volatile.Read(ref _sendFailures);
    /// <summary>Replies matched to a pending request.</summary>
    public long Replies => Volatile.Read(ref _replies);
    /// <summary>Requests reported as timed out.</summary>
    public long Timeouts => Volatile.Read(ref _timeouts);
    /// <summary>Our echo replies that came after their timeout, twice, or for no request sent.</summary>
    public long Late => Volatile.Read(ref _late);
    /// <summary>Well-formed packets that are not ours: our own requests looped back, other identifiers, other ICMP types.
    /// Not fed to the meter: on a raw socket this is every other ICMP packet of the host.</summary>
    public long Unmatched => Volatile.Read(ref _unmatched);
    /// <summary>Truncated or corrupt packets.</summary>
    public long Malformed => Volatile.Read(ref _malformed);

    public void OnSent() { Interlocked.Increment(ref _sent); Meter.Requests.Add(1); }
    public void OnSendFailed() { Interlocked.Increment(ref _sendFailures); Meter.SendErrors.Add(1); }
    public void OnReply() { Interlocked.Increment(ref _replies); Meter.Replies.Add(1); }
    public void OnTimeout() { Interlocked.Increment(ref _timeouts); Meter.Timeouts.Add(1); }
    public void OnLate() { Interlocked.Increment(ref _late); Meter.Dropped.Add(1, new KeyValuePair<string, object?>("asio2rx.drop.reason", "late")); }
    public void OnUnmatched() => Interlocked.Increment(ref _unmatched);
    public void OnMalformed() { Interlocked.Increment(ref _malformed); Meter.Dropped.Add(1, new KeyValuePair<string, object?>("asio2rx.drop.reason", "malformed")); }
}

/// <summary>ICMP's instruments on an <c>Asio2.Rx</c> meter (created by <see cref="Asio2Metrics"/>).</summary>
internal sealed class IcmpInstruments(Meter meter)
{
    public Counter<long> Requests { get; } = meter.CreateCounter<long>("asio2rx.icmp.requests", "{request}", "ICMP echo requests sent.");
    public Counter<long> Replies { get; } = meter.CreateCounter<long>("asio2rx.icmp.replies", "{reply}", "ICMP echo replies matched to a request in time.");
    public Counter<long> Timeouts { get; } = meter.CreateCounter<long>("asio2rx.icmp.timeouts", "{request}", "ICMP echo requests that got no reply in time.");
    public Counter<long> SendErrors { get; } = meter.CreateCounter<long>("asio2rx.icmp.send_errors", "{request}", "ICMP echo requests the system refused to send.");
    public Counter<long> Dropped { get; } = meter.CreateCounter<long>("asio2rx.icmp.dropped", "{packet}", "Received ICMP packets dropped: malformed, or echo replies that came late or twice.");
}
