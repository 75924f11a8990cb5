using System.Diagnostics.Metrics;

namespace Asio2.Rx;

/// <summary>
/// The <c>Asio2.Rx</c> meter (invariant 11): seen by <c>dotnet-counters monitor --counters Asio2.Rx</c> and by
/// OpenTelemetry (<c>AddMeter("Asio2.Rx")</c>) with no code. Adds are skipped when nobody listens.
/// </summary>
/// <remarks>
/// Names, units and attributes follow OpenTelemetry's semantic conventions where one exists for what is measured:
/// UpDownCounters take a <c>.count</c> suffix and are not pluralized (<c>db.client.connection.count</c>); bytes are
/// one <c>By</c> counter split by <c>network.io.direction</c> (<c>system.network.io</c>); faults carry
/// <c>error.type</c>. Every instrument carries <c>asio2rx.transport</c> ("tcp", "tls", "udp", "kcp", "serial",
/// "memory"). Earlier builds used other names:
/// <list type="table">
/// <item><term><c>asio2rx.session.count</c> ({session})</term><description><c>asio2rx.sessions.active</c></description></item>
/// <item><term><c>asio2rx.session.opened</c> ({session})</term><description><c>asio2rx.sessions.opened</c></description></item>
/// <item><term><c>asio2rx.session.closed</c> ({session}; <c>asio2rx.close.reason</c>, and <c>error.type</c> when the close was a fault)</term><description><c>asio2rx.sessions.closed</c> (tag <c>reason</c>)</description></item>
/// <item><term><c>asio2rx.io</c> (By; <c>network.io.direction</c> = receive | transmit)</term><description><c>asio2rx.bytes.received</c>, <c>asio2rx.bytes.sent</c></description></item>
/// <item><term><c>asio2rx.frame.received</c> ({frame})</term><description><c>asio2rx.frames.received</c></description></item>
/// <item><term><c>asio2rx.dropped</c> ({item}; <c>asio2rx.drop.reason</c>)</term><description><c>asio2rx.drops</c> (tag <c>reason</c>)</description></item>
/// <item><term><c>asio2rx.error</c> ({error}; <c>error.type</c>)</term><description><c>asio2rx.errors</c> (tag <c>kind</c>)</description></item>
/// </list>
/// The tag <c>transport</c> became <c>asio2rx.transport</c>.
/// </remarks>
internal static class Asio2Metrics
{
    public const string MeterName = "Asio2.Rx";
    public const string TransportTag = "asio2rx.transport";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    /// <summary>The one meter; components with instruments of their own (ICMP) create them here.</summary>
    public static Meter Meter => s_meter;
    private static readonly UpDownCounter<long> s_active = s_meter.CreateUpDownCounter<long>("asio2rx.session.count", "{session}", "Sessions open now.");
    private static readonly Counter<long> s_opened = s_meter.CreateCounter<long>("asio2rx.session.opened", "{session}", "Sessions started.");
    private static readonly Counter<long> s_closed = s_meter.CreateCounter<long>("asio2rx.session.closed", "{session}", "Sessions ended, by close reason.");
    private static readonly Counter<long> s_io = s_meter.CreateCounter<long>("asio2rx.io", "By", "Bytes received from and written to the transport, by network.io.direction.");
    private static readonly Counter<long> s_framesIn = s_meter.CreateCounter<long>("asio2rx.frame.received", "{frame}", "Frames delivered to subscribers.");
    private static readonly Counter<long> s_drops = s_meter.CreateCounter<long>("asio2rx.dropped", "{item}", "Input dropped or sends refused, by reason.");
    private static readonly Counter<long> s_errors = s_meter.CreateCounter<long>("asio2rx.error", "{error}", "Faults, by error.type.");

    private static KeyValuePair<string, object?> Transport(string transport) => new(TransportTag, transport);

    public static void SessionOpened(string transport)
    {
        if (s_opened.Enabled) s_opened.Add(1, Transport(transport));
        if (s_active.Enabled) s_active.Add(1, Transport(transport));
    }

    public static void SessionClosed(string transport, CloseKind kind)
    {
        if (s_closed.Enabled)
        {
            var reason = new KeyValuePair<string, object?>("asio2rx.close.reason", kind.ToString());
            if (Asio2Diagnostics.IsFault(kind)) s_closed.Add(1, Transport(transport), reason, new KeyValuePair<string, object?>("error.type", kind.ToString()));
            else s_closed.Add(1, Transport(transport), reason);
        }
        if (s_active.Enabled) s_active.Add(-1, Transport(transport));
    }

    public static void BytesReceived(string transport, long n)
    {
        if (s_io.Enabled) s_io.Add(n, Transport(transport), new KeyValuePair<string, object?>("network.io.direction", "receive"));
    }

    public static void BytesSent(string transport, long n)
    {
        if (s_io.Enabled) s_io.Add(n, Transport(transport), new KeyValuePair<string, object?>("network.io.direction", "transmit"));
    }

    public static void FramesReceived(string transport, long n)
    {
        if (n > 0 && s_framesIn.Enabled) s_framesIn.Add(n, Transport(transport));
    }

    /// <summary>Counts dropped input: garbage datagrams, refused sends, over-limit frames.</summary>
    public static void Drop(string transport, string reason)
    {
        if (s_drops.Enabled) s_drops.Add(1, Transport(transport), new KeyValuePair<string, object?>("asio2rx.drop.reason", reason));
    }

    public static void Error(string transport, string kind)
    {
        if (s_errors.Enabled) s_errors.Add(1, Transport(transport), new KeyValuePair<string, object?>("error.type", kind));
    }

    public static void UserCodeFault(string transport) => Error(transport, "user_code");
}
