using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>
/// KCP's instruments on an <c>Asio2.Rx</c> meter (created by <see cref="Asio2Metrics"/>): transmissions and
/// retransmissions as counters, bytes in flight across sessions, and the round-trip estimate, timeout and congestion
/// window as histograms sampled whenever a session took new round-trip samples. Drops are on <c>asio2rx.dropped</c>
/// with their reason.
/// </summary>
internal sealed class KcpInstruments(Meter meter)
{
    private static readonly KeyValuePair<string, object?> s_timeout = new("kind", "timeout");
    private static readonly KeyValuePair<string, object?> s_fast = new("kind", "fast");
    private readonly Counter<long> _sent = meter.CreateCounter<long>("asio2rx.kcp.segments.sent", "{segment}", "KCP data segments transmitted, retransmissions included.");
    private readonly Counter<long> _retransmits = meter.CreateCounter<long>("asio2rx.kcp.retransmissions", "{segment}", "KCP retransmissions, by kind (timeout, fast).");
    private readonly UpDownCounter<long> _inFlight = meter.CreateUpDownCounter<long>("asio2rx.kcp.bytes_in_flight", "By", "KCP payload bytes sent and not yet acknowledged.");
    private readonly Histogram<double> _srtt = meter.CreateHistogram<double>("asio2rx.kcp.srtt", "ms", "KCP smoothed round-trip time.");
    private readonly Histogram<double> _rttvar = meter.CreateHistogram<double>("asio2rx.kcp.rttvar", "ms", "KCP round-trip time variation.");
    private readonly Histogram<double> _rto = meter.CreateHistogram<double>("asio2rx.kcp.rto", "ms", "KCP retransmission timeout.");
    private readonly Histogram<long> _cwnd = meter.CreateHistogram<long>("asio2rx.kcp.cwnd", "{segment}", "KCP congestion window.");

    /// <summary>What a session last reported, so that each report adds only what changed. Scheduler-only.</summary>
    internal struct Reported
    {
        private long _sent, _timeout, _fast, _rttSamples;
        private int _inFlight;

        /// <summary>Reports what <paramref name="kcp"/> did since the last call on <paramref name="m"/>.</summary>
        public void Report(Kcp kcp, KcpInstruments m)
        {
            if (kcp.SegmentsSentTotal != _sent)
            {
                if (m._sent.Enabled) m._sent.Add(kcp.SegmentsSentTotal - _sent);
                _sent = kcp.SegmentsSentTotal;
            }
            if (kcp.TimeoutRetransmitsTotal != _timeout)
            {
                if (m._retransmits.Enabled) m._retransmits.Add(kcp.TimeoutRetransmitsTotal - _timeout, s_timeout);
                _timeout = kcp.TimeoutRetransmitsTotal;
            }
            if (kcp.FastRetransmitsTotal != _fast)
            {
                if (m._retransmits.Enabled) m._retransmits.Add(kcp.FastRetransmitsTotal - _fast, s_fast);
                _fast = kcp.FastRetransmitsTotal;
            }
            if (kcp.BytesInFlight != _inFlight) SetInFlight(kcp.BytesInFlight, m);
            if (kcp.RttSamples != _rttSamples)
            {
                _rttSamples = kcp.RttSamples;
                if (m._srtt.Enabled) m._srtt.Record(kcp.SmoothedRtt);
                if (m._rttvar.Enabled) m._rttvar.Record(kcp.RttVariance);
                if (m._rto.Enabled) m._rto.Record(kcp.RetransmitTimeout);
                if (m._cwnd.Enabled) m._cwnd.Record(kcp.CongestionWindow);
            }
        }

        /// <summary>The session is gone: its bytes are no longer in flight.</summary>
        public void Release(KcpInstruments m) => SetInFlight(0, m);

        private void SetInFlight(int bytes, KcpInstruments m)
        {
            if (m._inFlight.Enabled) m._inFlight.Add(bytes - _inFlight);
            _inFlight = bytes;
        }
    }
}
