using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// The library's instruments on one <c>Asio2.Rx</c> meter (invariant 11): seen by
/// <c>dotnet-counters monitor --counters Asio2.Rx</c> and by OpenTelemetry (<c>AddMeter("Asio2.Rx")</c>) with no code.
/// Every instrument of every component is created here, once per meter: <see cref="Default"/> on the process-wide
/// meter, or, for sessions whose options name an <see cref="IMeterFactory"/> (a hosted app's, from DI), on that
/// factory's meter (<see cref="For"/>). Adds are skipped when nobody listens.
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
/// <item><term><c>http.server.request.duration</c> (s; <c>http.request.method</c>, <c>http.response.status_code</c>, <c>http.route</c>, ...), whose count is the request count</term><description><c>asio2rx.http.request.duration</c> and <c>asio2rx.http.requests</c> (tags <c>transport</c>, <c>status_class</c>)</description></item>
/// <item><term><c>asio2rx.http.rejected</c> (tag <c>asio2rx.http.rejection</c>)</term><description>the same name with tag <c>reason</c></description></item>
/// </list>
/// The tag <c>transport</c> became <c>asio2rx.transport</c>.
/// </remarks>
internal sealed class Asio2Metrics
{
    public const string MeterName = "Asio2.Rx";
    public const string MeterVersion = "1.0";
    public const string TransportTag = "asio2rx.transport";

    private static readonly ConditionalWeakTable<IMeterFactory, Asio2Metrics> s_byFactory = new();

    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _opened;
    private readonly Counter<long> _closed;
    private readonly Counter<long> _io;
    private readonly Counter<long> _framesIn;
    private readonly Counter<long> _drops;
    private readonly Counter<long> _errors;

    private Asio2Metrics(Meter meter)
    {
        Meter = meter;
        _active = meter.CreateUpDownCounter<long>("asio2rx.session.count", "{session}", "Sessions open now.");
        _opened = meter.CreateCounter<long>("asio2rx.session.opened", "{session}", "Sessions started.");
        _closed = meter.CreateCounter<long>("asio2rx.session.closed", "{session}", "Sessions ended, by close reason.");
        _io = meter.CreateCounter<long>("asio2rx.io", "By", "Bytes received from and written to the transport, by network.io.direction.");
        _framesIn = meter.CreateCounter<long>("asio2rx.frame.received", "{frame}", "Frames delivered to subscribers.");
        _drops = meter.CreateCounter<long>("asio2rx.dropped", "{item}", "Input dropped or sends refused, by reason.");
        _errors = meter.CreateCounter<long>("asio2rx.error", "{error}", "Faults, by error.type.");
        Http = new HttpInstruments(meter);
        Kcp = new KcpInstruments(meter);
        Icmp = new IcmpInstruments(meter);
    }

    /// <summary>The instruments on the process-wide meter (<c>new Meter("Asio2.Rx")</c>): used when no
    /// <see cref="IMeterFactory"/> is given, and by components without options for one (ICMP, <see cref="UdpEndpoint"/>).</summary>
    public static Asio2Metrics Default { get; } = new(new Meter(MeterName, MeterVersion));

    /// <summary>The instruments on <paramref name="factory"/>'s <c>Asio2.Rx</c> meter (one set per factory), or
    /// <see cref="Default"/> for null.</summary>
    public static Asio2Metrics For(IMeterFactory? factory) => factory is null
        ? Default
        : s_byFactory.GetValue(factory, static f => new Asio2Metrics(f.Create(new MeterOptions(MeterName) { Version = MeterVersion })));

    /// <summary>The meter every instrument here belongs to.</summary>
    public Meter Meter { get; }

    /// <summary>HTTP's instruments.</summary>
    public HttpInstruments Http { get; }

    /// <summary>KCP's instruments.</summary>
    public KcpInstruments Kcp { get; }

    /// <summary>ICMP's instruments.</summary>
    public IcmpInstruments Icmp { get; }

    private static KeyValuePair<string, object?> Transport(string transport) => new(TransportTag, transport);

    public void SessionOpened(string transport)
    {
        if (_opened.Enabled) _opened.Add(1, Transport(transport));
        if (_active.Enabled) _active.Add(1, Transport(transport));
    }

    public void SessionClosed(string transport, CloseKind kind)
    {
        if (_closed.Enabled)
        {
            var reason = new KeyValuePair<string, object?>("asio2rx.close.reason", kind.ToString());
            if (Asio2Diagnostics.IsFault(kind)) _closed.Add(1, Transport(transport), reason, new KeyValuePair<string, object?>("error.type", kind.ToString()));
            else _closed.Add(1, Transport(transport), reason);
        }
        if (_active.Enabled) _active.Add(-1, Transport(transport));
    }

    public void BytesReceived(string transport, long n)
    {
        if (_io.Enabled) _io.Add(n, Transport(transport), new KeyValuePair<string, object?>("network.io.direction", "receive"));
    }

    public void BytesSent(string transport, long n)
    {
        if (_io.Enabled) _io.Add(n, Transport(transport), new KeyValuePair<string, object?>("network.io.direction", "transmit"));
    }

    public void FramesReceived(string transport, long n)
    {
        if (n > 0 && _framesIn.Enabled) _framesIn.Add(n, Transport(transport));
    }

    /// <summary>Counts dropped input: garbage datagrams, refused sends, over-limit frames.</summary>
    public void Drop(string transport, string reason)
    {
        if (_drops.Enabled) _drops.Add(1, Transport(transport), new KeyValuePair<string, object?>("asio2rx.drop.reason", reason));
    }

    public void Error(string transport, string kind)
    {
        if (_errors.Enabled) _errors.Add(1, Transport(transport), new KeyValuePair<string, object?>("error.type", kind));
    }

    public void UserCodeFault(string transport) => Error(transport, "user_code");
}
