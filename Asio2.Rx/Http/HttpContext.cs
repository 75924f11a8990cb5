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

    /// <summary>Per-request state for hooks and handlers. The library never reads it.</summary>
    public IDictionary<string, object?> Items => _items ??= new Dictionary<string, object?>();

    private Dictionary<string, object?>? _items;

    internal DateTimeOffset StartedAt { get; }

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
