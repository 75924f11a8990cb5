using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>HTTP instruments on the <c>Asio2.Rx</c> meter: requests by status class, their duration, refusals by reason,
/// handler faults. Adds are skipped when nobody listens.</summary>
internal static class HttpMetrics
{
    private static readonly Counter<long> s_requests = Asio2Metrics.Meter.CreateCounter<long>("asio2rx.http.requests", "{request}", "HTTP responses written, by status class.");
    private static readonly Histogram<double> s_duration = Asio2Metrics.Meter.CreateHistogram<double>("asio2rx.http.request.duration", "s", "From a request's head to its response being queued.");
    private static readonly Counter<long> s_rejected = Asio2Metrics.Meter.CreateCounter<long>("asio2rx.http.rejected", "{request}", "Requests refused by the parser or a limit, by reason.");

    private static readonly string[] s_classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    public static void Request(string transport, int status, TimeSpan duration)
    {
        var statusClass = new KeyValuePair<string, object?>("status_class", status is >= 100 and < 600 ? s_classes[status / 100 - 1] : "other");
        var t = new KeyValuePair<string, object?>("transport", transport);
        if (s_requests.Enabled) s_requests.Add(1, t, statusClass);
        if (s_duration.Enabled) s_duration.Record(duration.TotalSeconds, t, statusClass);
    }

    public static void Rejected(string transport, HttpRejection reason)
    {
        if (s_rejected.Enabled) s_rejected.Add(1, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", reason.ToString()));
    }

    public static void HandlerFault(string transport) => Asio2Metrics.Error(transport, "http_handler");
}
