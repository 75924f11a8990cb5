using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace Asio2.Rx;

/// <summary>
/// HTTP server telemetry the OpenTelemetry way (semantic conventions for HTTP): a server span per request on the
/// <c>Asio2.Rx</c> activity source and <c>http.server.request.duration</c> / <c>http.server.active_requests</c> on the
/// <c>Asio2.Rx</c> meter; plus refusals by reason and handler faults. With no listener a request costs two
/// <c>Enabled</c>/<c>HasListeners</c> checks and nothing is allocated.
/// </summary>
/// <remarks>
/// The span is named <c>{method} {route}</c> (<c>GET /users/{id}</c>), or the method alone when no route matched; its
/// parent is the caller's W3C <c>traceparent</c>/<c>tracestate</c> and it links to the connection's session span. It is
/// <see cref="Activity.Current"/> while the hooks and handler run, so their own spans and outgoing calls are its children.
/// Attributes: <c>http.request.method</c> (<c>_OTHER</c> plus <c>http.request.method_original</c> for a method outside
/// RFC 9110's), <c>url.path</c>, <c>url.scheme</c>, <c>network.protocol.version</c>, <c>server.address</c>/<c>.port</c>
/// (from <c>Host</c>), <c>client.address</c>/<c>.port</c>, <c>user_agent.original</c>, then <c>http.route</c>,
/// <c>http.response.status_code</c>, and for a 5xx or a request cut off by its connection <c>error.type</c> with status Error.
/// </remarks>
internal static class HttpTelemetry
{
    /// <summary>A request head arrived (on its connection's scheduler): counted active, and its span started when someone listens.</summary>
    public static void RequestStarted(HttpContext ctx)
    {
        var active = ctx.Session.Settings.Metrics.Http.ActiveRequests;
        if (active.Enabled)
        {
            ctx.CountedActive = true;
            active.Add(1, new("http.request.method", Method(ctx.Request.Method)), new("url.scheme", Scheme(ctx.Session)));
        }
        if (!Asio2Diagnostics.Source.HasListeners()) return;
        var request = ctx.Request;
        var method = Method(request.Method);
        var span = Asio2Diagnostics.StartServerSpan(method == "_OTHER" ? "HTTP" : method, request.Headers,
            static (headers, name) => headers[name], ctx.Session);
        if (span is null) return;
        ctx.Span = span;
        if (!span.IsAllDataRequested) return;
        span.SetTag("http.request.method", method);
        if (method == "_OTHER") span.SetTag("http.request.method_original", request.Method);
        span.SetTag("url.path", request.Path);
        span.SetTag("url.scheme", Scheme(ctx.Session));
        span.SetTag("network.protocol.version", ProtocolVersion(request));
        if (request.Host is { } host) SetServerAddress(span, host);
        if (ctx.Session.RemoteEndPoint is IPEndPoint client)
        {
            span.SetTag("client.address", (client.Address.IsIPv4MappedToIPv6 ? client.Address.MapToIPv4() : client.Address).ToString());
            span.SetTag("client.port", client.Port);
        }
        if (request.Headers["User-Agent"] is { } agent) span.SetTag("user_agent.original", agent);
    }

    /// <summary>The router matched a route: the span takes its name from it.</summary>
    public static void Routed(HttpContext ctx, string pattern)
    {
        if (ctx.Span is not { IsAllDataRequested: true } span) return;
        span.SetTag("http.route", pattern);
        span.DisplayName = span.DisplayName + " " + pattern;
    }

    /// <summary>The response was written (on the connection's scheduler): recorded, and the span ended.</summary>
    public static void RequestFinished(HttpContext ctx, TimeSpan duration) => End(ctx, duration, ctx.Response.StatusCode, aborted: null);

    /// <summary>The connection closed before the response was written; or, for an accepted upgrade, handed over after
    /// its response head (the request ends there, with that status).</summary>
    public static void RequestAborted(HttpContext ctx, TimeSpan duration, CloseReason reason)
    {
        if (reason.Kind == CloseKind.Upgraded && ctx.Response.Body is ResponseBody.Upgrade) End(ctx, duration, ctx.Response.StatusCode, aborted: null);
        else End(ctx, duration, status: null, reason);
    }

    public static void Rejected(Session session, HttpRejection reason)
    {
        var rejected = session.Settings.Metrics.Http.Rejected;
        if (rejected.Enabled) rejected.Add(1, new(Asio2Metrics.TransportTag, session.Transport), new("asio2rx.http.rejection", reason.ToString()));
    }

    public static void HandlerFault(Session session) => session.Settings.Metrics.Error(session.Transport, "http_handler");

    private static void End(HttpContext ctx, TimeSpan duration, int? status, CloseReason? aborted)
    {
        if (ctx.TelemetryEnded) return;
        ctx.TelemetryEnded = true;
        var method = Method(ctx.Request.Method);
        var scheme = Scheme(ctx.Session);
        var instruments = ctx.Session.Settings.Metrics.Http;
        if (ctx.CountedActive) instruments.ActiveRequests.Add(-1, new("http.request.method", method), new("url.scheme", scheme));
        string? errorType = aborted is { } reason ? reason.Kind.ToString() : status >= 500 ? StatusText(status.Value) : null;
        if (instruments.RequestDuration.Enabled)
        {
            var tags = new TagList
            {
                { "http.request.method", method },
                { "url.scheme", scheme },
                { "network.protocol.version", ProtocolVersion(ctx.Request) },
            };
            if (status is { } code) tags.Add("http.response.status_code", code);
            if (ctx.MatchedRoute is { } route) tags.Add("http.route", route.Pattern);
            if (errorType is not null) tags.Add("error.type", errorType);
            instruments.RequestDuration.Record(duration.TotalSeconds, tags);
        }
        if (ctx.Span is not { } span) return;
        if (span.IsAllDataRequested)
        {
            if (status is { } code) span.SetTag("http.response.status_code", code);
            if (errorType is not null) span.SetTag("error.type", errorType);
        }
        if (errorType is not null) span.SetStatus(ActivityStatusCode.Error, aborted?.Message);
        Asio2Diagnostics.StopSpan(span);
    }

    /// <summary>RFC 9110's methods as themselves (interned: no allocation per request), anything else <c>_OTHER</c>, as
    /// the conventions ask (an attacker's made-up methods must not make new metric series).</summary>
    private static string Method(string method) => method switch
    {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    };

    private static string Scheme(Session session) => session.Transport == "tls" ? "https" : "http";

    private static string ProtocolVersion(HttpRequest request) => request.Head.Version == 11 ? "1.1" : "1.0";

    private static readonly string[] s_statusTexts = Enumerable.Range(0, 600).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    private static string StatusText(int status) => (uint)status < (uint)s_statusTexts.Length ? s_statusTexts[status] : status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void SetServerAddress(Activity span, string host)
    {
        // host, host:port, [v6], [v6]:port
        int colon = host.LastIndexOf(':');
        int bracket = host.LastIndexOf(']');
        if (colon > bracket && int.TryParse(host.AsSpan(colon + 1), out int port))
        {
            span.SetTag("server.address", host[..colon].Trim('[', ']'));
            span.SetTag("server.port", port);
        }
        else span.SetTag("server.address", host.Trim('[', ']'));
    }
}

/// <summary>HTTP's instruments on an <c>Asio2.Rx</c> meter (created by <see cref="Asio2Metrics"/>).</summary>
internal sealed class HttpInstruments(Meter meter)
{
    public Histogram<double> RequestDuration { get; } = meter.CreateHistogram(
        "http.server.request.duration", "s", "Duration of HTTP server requests: from the request head to the response written.",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

    public UpDownCounter<long> ActiveRequests { get; } = meter.CreateUpDownCounter<long>(
        "http.server.active_requests", "{request}", "Requests received whose response is not written yet.");

    public Counter<long> Rejected { get; } = meter.CreateCounter<long>(
        "asio2rx.http.rejected", "{request}", "Requests refused by the parser or a limit, by asio2rx.http.rejection.");
}
