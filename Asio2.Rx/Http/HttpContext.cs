namespace Asio2.Rx;

/// <summary>
/// One request and its response, as <see cref="HttpServer.Requests"/> and route handlers see it. The handler answers
/// through <see cref="Response"/>, now or later, from any thread.
/// </summary>
public sealed class HttpContext
{
    private readonly HttpConnection _connection;
    private IReadOnlyDictionary<string, string>? _routeValues;
    private int _completed;

    internal HttpContext(HttpConnection connection, HttpRequestHead head, Session session, HttpRequestBody body)
    {
        _connection = connection;
        StartedAt = session.Scheduler.Now;
        Request = new HttpRequest(head, session, body);
        Response = new HttpResponse(this);
    }

    /// <summary>The request.</summary>
    public HttpRequest Request { get; }

    /// <summary>The response to fill and send.</summary>
    public HttpResponse Response { get; }

    /// <summary>The connection's session.</summary>
    public Session Session => Request.Session;

    /// <summary>Values of the matched route's <c>{name}</c> segments (and <c>*</c>, the rest of the path after a prefix);
    /// empty when no route matched.</summary>
    public IReadOnlyDictionary<string, string> RouteValues => _routeValues ?? HttpRoute.NoValues;

    /// <summary>The route value <paramref name="name"/> parsed as <typeparamref name="T"/> (int, Guid, long, ...).</summary>
    /// <exception cref="KeyNotFoundException">The route has no such value.</exception>
    /// <exception cref="FormatException">The value does not parse; a route handler that lets it escape answers 400.</exception>
    public T Route<T>(string name) where T : ISpanParsable<T>
    {
        var raw = RouteValues[name];
        return T.TryParse(raw, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"route value '{name}' = '{raw}' is not a valid {typeof(T).Name}");
    }

    /// <summary>True when the client asked to switch protocols (<c>Connection: upgrade</c> with an <c>Upgrade</c> header,
    /// no body); the protocols it offered are in <c>Request.Headers["Upgrade"]</c>.</summary>
    public bool IsUpgradeRequest => Request.Head.Upgrade is not null;

    /// <summary>
    /// Accepts an upgrade (in a <see cref="HttpServer.MapUpgrade"/> handler): the server writes a response head with
    /// <paramref name="statusCode"/>, <c>Connection: Upgrade</c> and the headers set on <see cref="Response"/> (e.g.
    /// <c>Upgrade</c>, <c>Sec-WebSocket-Accept</c>), after any earlier pipelined responses; then the session hands the
    /// connection over and the task completes with it. <see cref="DetachedConnection.Buffered"/> holds the bytes the
    /// client sent after the request (read before the hand-over); read them before the stream. No HTTP parser reads
    /// the connection after this. The new owner disposes the connection's stream.
    /// </summary>
    /// <param name="statusCode">The status of the response head. Defaults to 101 Switching Protocols.</param>
    /// <exception cref="InvalidOperationException">The request is not an upgrade request, or a response was sent already.</exception>
    public Task<DetachedConnection> AcceptUpgradeAsync(int statusCode = 101)
    {
        if (!IsUpgradeRequest) throw new InvalidOperationException("The request does not ask for an upgrade.");
        var upgrade = new ResponseBody.Upgrade();
        Response.StatusCode = statusCode;
        Response.Commit(upgrade, null);
        return upgrade.Connection.Task;
    }

    /// <summary>Per-request state for hooks and handlers. The library never reads it.</summary>
    public IDictionary<string, object?> Items => _items ??= new Dictionary<string, object?>();

    private Dictionary<string, object?>? _items;

    internal DateTimeOffset StartedAt { get; }

    /// <summary>The request's server span, when someone listens to the <c>Asio2.Rx</c> activity source.</summary>
    internal System.Diagnostics.Activity? Span { get; set; }

    /// <summary>Counted in <c>http.server.active_requests</c> (to be taken off again).</summary>
    internal bool CountedActive { get; set; }

    /// <summary>The duration was recorded and the span ended (once, written or cut off).</summary>
    internal bool TelemetryEnded { get; set; }

    internal HttpRoute? MatchedRoute { get; private set; }

    internal bool WantsContinue { get; set; }

    internal HttpConnection Connection => _connection;

    internal void SetRoute(HttpRoute route, IReadOnlyDictionary<string, string> values)
    {
        MatchedRoute = route;
        _routeValues = values;
    }

    /// <summary>The response was committed (any thread).</summary>
    internal void Completed()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0) _connection.ResponseReady(this);
    }

    /// <inheritdoc/>
    public override string ToString() => Request.ToString();
}
