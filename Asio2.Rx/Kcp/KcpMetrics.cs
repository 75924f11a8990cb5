using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>
/// KCP's instruments on the <c>Asio2.Rx</c> meter: transmissions and retransmissions as counters, bytes in flight
/// across sessions, and the round-trip estimate, timeout and congestion window as histograms sampled whenever a
/// session took new round-trip samples. Drops are on <c>asio2rx.drops</c> with their reason.
/// </summary>
internal static class KcpMetrics
{
    private static readonly KeyValuePair<string, object?> s_timeout = new("kind", "timeout");
    private static readonly KeyValuePair<string, object?> s_fast = new("kind", "fast");
    private static readonly Counter<long> s_sent = Asio2Metrics.Meter.CreateCounter<long>("asio2rx.kcp.segments.sent", "{segment}", "KCP data segments transmitted, retransmissions included.");
    private static readonly Counter<long> s_retransmits = Asio2Metrics.Meter.CreateCounter<long>("asio2rx.kcp.retransmissions", "{segment}", "KCP retransmissions, by kind (timeout, fast).");
    private static readonly UpDownCounter<long> s_inFlight = Asio2Metrics.Meter.CreateUpDownCounter<long>("asio2rx.kcp.bytes_in_flight", "By", "KCP payload bytes sent and not yet acknowledged.");
    private static readonly Histogram<double> s_srtt = Asio2Metrics.Meter.CreateHistogram<double>("asio2rx.kcp.srtt", "ms", "KCP smoothed round-trip time.");
    private static readonly Histogram<double> s_rttvar = Asio2Metrics.Meter.CreateHistogram<double>("asio2rx.kcp.rttvar", "ms", "KCP round-trip time variation.");
    private static readonly Histogram<double> s_rto = Asio2Metrics.Meter.CreateHistogram<double>("asio2rx.kcp.rto", "ms", "KCP retransmission timeout.");
    private static readonly Histogram<long> s_cwnd = Asio2Metrics.Meter.CreateHistogram<long>("asio2rx.kcp.cwnd", "{segment}", "KCP congestion window.");

    /// <summary>What a session last reported, so that each report adds only what changed. Scheduler-only.</summary>
    internal struct Reported
    {
        private long _sent, _timeout, _fast, _rttSamples;
        private int _inFlight;

        /// <summary>Reports what <paramref name="kcp"/> did since the last call.</summary>
        public void Report(Kcp kcp)
        {
            if (kcp.SegmentsSentTotal != _sent)
            {
                if (s_sent.Enabled) s_sent.Add(kcp.SegmentsSentTotal - _sent);
                _sent = kcp.SegmentsSentTotal;
            }
            if (kcp.TimeoutRetransmitsTotal != _timeout)
            {
                if (s_retransmits.Enabled) s_retransmits.Add(kcp.TimeoutRetransmitsTotal - _timeout, s_timeout);
                _timeout = kcp.TimeoutRetransmitsTotal;
            }
            if (kcp.FastRetransmitsTotal != _fast)
            {
                if (s_retransmits.Enabled) s_retransmits.Add(kcp.FastRetransmitsTotal - _fast, s_fast);
                _fast = kcp.FastRetransmitsTotal;
            }
            if (kcp.BytesInFlight != _inFlight) SetInFlight(kcp.BytesInFlight);
            if (kcp.RttSamples != _rttSamples)
            {
                _rttSamples = kcp.RttSamples;
                if (s_srtt.Enabled) s_srtt.Record(kcp.SmoothedRtt);
                if (s_rttvar.Enabled) s_rttvar.Record(kcp.RttVariance);
                if (s_rto.Enabled) s_rto.Record(kcp.RetransmitTimeout);
                if (s_cwnd.Enabled) s_cwnd.Record(kcp.CongestionWindow);
            }
        }

        /// <summary>The session is gone: its bytes are no longer in flight.</summary>
        public void Release() => SetInFlight(0);

        private void SetInFlight(int bytes)
        {
            if (s_inFlight.Enabled) s_inFlight.Add(bytes - _inFlight);
            _inFlight = bytes;
        }
    }
}
