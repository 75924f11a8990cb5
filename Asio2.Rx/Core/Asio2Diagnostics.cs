using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// The <c>Asio2.Rx</c> activity source: one span per session, from start to close, and the W3C trace-context
/// helpers request/response protocols (HTTP, RPC) start their spans with. OpenTelemetry sees it with
/// <c>AddSource("Asio2.Rx")</c>; with no listener nothing is allocated.
/// </summary>
/// <remarks>
/// <para>A session span ("tcp session", "tls session", ...) is the root of its own trace, whatever code accepted
/// or connected it, and is never made <see cref="Activity.Current"/>: a connection outlives the requests on it,
/// so request spans get the caller's trace (from <c>traceparent</c>) and only a link to their connection.</para>
/// <para>Attributes (OpenTelemetry names): <c>network.transport</c>, <c>network.type</c>,
/// <c>network.local.address</c>/<c>.port</c>, <c>network.peer.address</c>/<c>.port</c>, <c>asio2rx.transport</c>,
/// <c>asio2rx.session.id</c>; at close <c>asio2rx.close.reason</c>, <c>asio2rx.session.bytes_received</c>,
/// <c>asio2rx.session.frames_received</c>, and for a fault <c>error.type</c> with status Error and the exception as
/// an event.</para>
/// </remarks>
internal static class Asio2Diagnostics
{
    public const string SourceName = "Asio2.Rx";

    public static readonly ActivitySource Source = new(SourceName, "1.0");

    // Session -> its span, only for sessions started while someone listened. Weak: a session never closed (a test
    // that drops one) takes nothing with it.
    private static readonly ConditionalWeakTable<Session, Activity> s_sessionSpans = new();

    /// <summary>A session started: counted, and its span opened when someone listens.</summary>
    public static void SessionOpened(Session session)
    {
        session.Settings.Metrics.SessionOpened(session.Transport);
        if (!Source.HasListeners()) return;
        var previous = Activity.Current;
        Activity.Current = null; // a root: not the child of the accept loop's or the connecting caller's span
        try
        {
            var span = Source.StartActivity(session.Transport + " session", ActivityKind.Internal);
            if (span is null) return;
            if (span.IsAllDataRequested) DescribeSession(span, session);
            s_sessionSpans.AddOrUpdate(session, span);
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>A session finished (on its scheduler): counted, and its span closed with the reason.</summary>
    public static void SessionClosed(Session session, CloseReason reason)
    {
        session.Settings.Metrics.SessionClosed(session.Transport, reason.Kind);
        if (!s_sessionSpans.TryGetValue(session, out var span)) return;
        s_sessionSpans.Remove(session);
        if (span.IsAllDataRequested)
        {
            span.SetTag("asio2rx.close.reason", reason.Kind.ToString());
            span.SetTag("asio2rx.session.bytes_received", session.BytesReceived);
            span.SetTag("asio2rx.session.frames_received", session.FramesReceived);
            if (IsFault(reason.Kind))
            {
                span.SetTag("error.type", reason.Kind.ToString());
                span.SetStatus(ActivityStatusCode.Error, reason.Message);
                if (reason.Exception is { } ex) span.AddException(ex);
            }
        }
        StopSpan(span);
    }

    /// <summary>The span of an open session, when it has one: request spans link to it.</summary>
    public static Activity? SessionSpan(Session session) => s_sessionSpans.TryGetValue(session, out var span) ? span : null;

    /// <summary>
    /// Starts the server span of one request or call: its parent is the caller's context read from
    /// <paramref name="carrier"/> (W3C <c>traceparent</c>/<c>tracestate</c>, through
    /// <see cref="DistributedContextPropagator.Current"/>), or none when the carrier has no valid one; it links to
    /// <paramref name="session"/>'s span. Null when nobody listens. <see cref="Activity.Current"/> is left as it was:
    /// the caller makes the span current around the work it covers.
    /// </summary>
    public static Activity? StartServerSpan<TCarrier>(string name, TCarrier carrier, Func<TCarrier, string, string?> getField, Session? session)
    {
        if (!Source.HasListeners()) return null;
        DistributedContextPropagator.Current.ExtractTraceIdAndState(carrier,
            (object? c, string field, out string? value, out IEnumerable<string>? values) =>
            {
                value = getField((TCarrier)c!, field);
                values = null;
            },
            out string? traceParent, out string? traceState);
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        ActivityLink[]? links = session is not null && SessionSpan(session) is { } connection ? [new ActivityLink(connection.Context)] : null;
        var previous = Activity.Current;
        Activity.Current = null; // without a remote parent the request is a root, not a child of whatever ran before
        try
        {
            return Source.StartActivity(ActivityKind.Server, parent, tags: null, links, name: name);
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>
    /// Starts the client span of one request or call, a child of <see cref="Activity.Current"/>, and writes its
    /// context into <paramref name="carrier"/> (<c>traceparent</c>, and <c>tracestate</c> when there is one). When
    /// nobody listens, no span is started and the context of <see cref="Activity.Current"/> (if any) is written, so a
    /// trace the app started still reaches the peer. A null carrier: the span alone. <see cref="Activity.Current"/> is left as it was: the call
    /// outlives this method.
    /// </summary>
    public static Activity? StartClientSpan<TCarrier>(string name, TCarrier carrier, Action<TCarrier, string, string> setField)
    {
        var previous = Activity.Current;
        var span = Source.HasListeners() ? Source.StartActivity(name, ActivityKind.Client) : null;
        Activity.Current = previous;
        if (carrier is not null && (span ?? previous) is { } context)
            DistributedContextPropagator.Current.Inject(context, carrier, (c, field, value) => setField((TCarrier)c!, field, value));
        return span;
    }

    /// <summary>Ends a request's or call's span without disturbing the thread's <see cref="Activity.Current"/>
    /// (<see cref="Activity.Stop"/> would restore the span's predecessor).</summary>
    public static void StopSpan(Activity span)
    {
        var current = Activity.Current;
        span.Stop();
        Activity.Current = current;
    }

    /// <summary>Closes that say something went wrong (for <c>error.type</c>); ends asked for by either side do not.</summary>
    public static bool IsFault(CloseKind kind) => kind is CloseKind.Reset or CloseKind.SilenceTimeout or CloseKind.ConnectTimeout
        or CloseKind.ConnectFailed or CloseKind.FrameTooLarge or CloseKind.ProtocolError or CloseKind.SendQueueOverflow
        or CloseKind.UserCodeFault or CloseKind.HandshakeFailed or CloseKind.HandshakeTimeout or CloseKind.DeadLink
        or CloseKind.DeviceLost or CloseKind.Error;

    private static void DescribeSession(Activity span, Session session)
    {
        span.SetTag("asio2rx.transport", session.Transport);
        span.SetTag("asio2rx.session.id", session.Id);
        string? network = session.Transport switch
        {
            "tcp" or "tls" => "tcp",
            "udp" or "kcp" => "udp",
            _ => null,
        };
        if (network is not null) span.SetTag("network.transport", network);
        if (session.LocalEndPoint is IPEndPoint local)
        {
            span.SetTag("network.type", local.AddressFamily == AddressFamily.InterNetworkV6 && !local.Address.IsIPv4MappedToIPv6 ? "ipv6" : "ipv4");
            span.SetTag("network.local.address", Unmapped(local.Address).ToString());
            span.SetTag("network.local.port", local.Port);
        }
        if (session.RemoteEndPoint is IPEndPoint remote)
        {
            span.SetTag("network.peer.address", Unmapped(remote.Address).ToString());
            span.SetTag("network.peer.port", remote.Port);
        }
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
