using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>
/// The <c>Asio2.Rx</c> meter (invariant 11): seen by <c>dotnet-counters monitor --counters Asio2.Rx</c> and by
/// OpenTelemetry with no code. Every instrument carries a <c>transport</c> tag. Adds are skipped when nobody listens.
/// </summary>
internal static class Asio2Metrics
{
    public const string MeterName = "Asio2.Rx";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    /// <summary>The one meter; components with instruments of their own (ICMP) create them here.</summary>
    public static Meter Meter => s_meter;
    private static readonly Counter<long> s_opened = s_meter.CreateCounter<long>("asio2rx.sessions.opened", "{session}", "Sessions started.");
    private static readonly Counter<long> s_closed = s_meter.CreateCounter<long>("asio2rx.sessions.closed", "{session}", "Sessions ended, by close reason.");
    private static readonly UpDownCounter<long> s_active = s_meter.CreateUpDownCounter<long>("asio2rx.sessions.active", "{session}", "Sessions open now.");
    private static readonly Counter<long> s_bytesIn = s_meter.CreateCounter<long>("asio2rx.bytes.received", "By", "Bytes received.");
    private static readonly Counter<long> s_bytesOut = s_meter.CreateCounter<long>("asio2rx.bytes.sent", "By", "Bytes written.");
    private static readonly Counter<long> s_framesIn = s_meter.CreateCounter<long>("asio2rx.frames.received", "{frame}", "Frames delivered to subscribers.");
    private static readonly Counter<long> s_drops = s_meter.CreateCounter<long>("asio2rx.drops", "{item}", "Input dropped or refused, by reason.");
    private static readonly Counter<long> s_errors = s_meter.CreateCounter<long>("asio2rx.errors", "{error}", "Faults, by kind.");

    public static void SessionOpened(string transport)
    {
        if (s_opened.Enabled) s_opened.Add(1, new KeyValuePair<string, object?>("transport", transport));
        if (s_active.Enabled) s_active.Add(1, new KeyValuePair<string, object?>("transport", transport));
    }

    public static void SessionClosed(string transport, CloseKind kind)
    {
        if (s_closed.Enabled) s_closed.Add(1, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", kind.ToString()));
        if (s_active.Enabled) s_active.Add(-1, new KeyValuePair<string, object?>("transport", transport));
    }

    public static void BytesReceived(string transport, long n)
    {
        if (s_bytesIn.Enabled) s_bytesIn.Add(n, new KeyValuePair<string, object?>("transport", transport));
    }

    public static void BytesSent(string transport, long n)
    {
        if (s_bytesOut.Enabled) s_bytesOut.Add(n, new KeyValuePair<string, object?>("transport", transport));
    }

    public static void FramesReceived(string transport, long n)
    {
        if (n > 0 && s_framesIn.Enabled) s_framesIn.Add(n, new KeyValuePair<string, object?>("transport", transport));
    }

    /// <summary>Counts dropped input: garbage datagrams, refused sends, over-limit frames.</summary>
    public static void Drop(string transport, string reason)
    {
        if (s_drops.Enabled) s_drops.Add(1, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", reason));
    }

    public static void Error(string transport, string kind)
    {
        if (s_errors.Enabled) s_errors.Add(1, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("kind", kind));
    }

    public static void UserCodeFault(string transport) => Error(transport, "user_code");
}
