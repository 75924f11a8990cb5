namespace Asio2.Rx;

/// <summary>
/// A before/after hook (asio2's AOP): <see cref="Before"/> runs before the handler and may answer and stop the chain by
/// returning false; <see cref="After"/> runs when the response is committed (a short-circuited one too), before it is
/// written, and may change its status and headers (returning false skips the hooks after it). Both run on the
/// connection's scheduler.
/// </summary>
public interface IHttpHook
{
    /// <summary>Runs before the handler. Return false to stop: the hook should have sent a response (else 403 is sent).</summary>
    bool Before(HttpContext context) => true;

    /// <summary>Runs after the handler committed its response, before it is written. Return false to skip later After hooks.</summary>
    bool After(HttpContext context) => true;
}

/// <summary>Hooks made from delegates.</summary>
public static class HttpHook
{
    /// <summary>A hook with only a <see cref="IHttpHook.Before"/> step.</summary>
    public static IHttpHook Before(Func<HttpContext, bool> before) => new DelegateHook(before, null);

    /// <summary>A hook with only an <see cref="IHttpHook.After"/> step.</summary>
    public static IHttpHook After(Action<HttpContext> after) => new DelegateHook(null, c => { after(c); return true; });

    private sealed class DelegateHook(Func<HttpContext, bool>? before, Func<HttpContext, bool>? after) : IHttpHook
    {
        public bool Before(HttpContext context) => before?.Invoke(context) ?? true;
        public bool After(HttpContext context) => after?.Invoke(context) ?? true;
    }
}

/// <summary>
/// One route: methods, a pattern, a handler and its hooks. Patterns are exact (<c>/users</c>), with parameters
/// (<c>/users/{id}</c>, one whole segment each), or prefixes ending in <c>*</c> (<c>/static/*</c>, or <c>*</c> alone).
/// </summary>
internal sealed class HttpRoute
{
    public static readonly IReadOnlyDictionary<string, string> NoValues = new Dictionary<string, string>();

    private readonly string[] _segments;
    private readonly bool _prefix;

    public HttpRoute(string[] methods, string pattern, Func<HttpContext, ValueTask> handler, IHttpHook[] hooks)
    {
        if (pattern != "*" && !pattern.StartsWith('/')) throw new ArgumentException("A route pattern starts with '/' (or is \"*\").", nameof(pattern));
        Methods = methods;
        Pattern = pattern;
        Handler = handler;
        Hooks = hooks;
        _prefix = pattern.EndsWith('*');
        var body = _prefix ? pattern[..^1] : pattern;
        _segments = body.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var s in _segments)
            if (s.Contains('*') || (s.Contains('{') && !(s.StartsWith('{') && s.EndsWith('}') && s.Length > 2)))
                throw new ArgumentException($"Bad route segment '{s}': '*' ends a pattern, and a parameter is a whole segment '{{name}}'.", nameof(pattern));
        // Specificity: literal segments beat parameters, segment by segment; an exact route beats any prefix route.
        Rank = _segments.Select(s => s.StartsWith('{') ? 1 : 2).ToArray();
    }

    public string[] Methods { get; }
    public string Pattern { get; }
    public Func<HttpContext, ValueTask> Handler { get; }
    public IHttpHook[] Hooks { get; }
    public bool IsPrefix => _prefix;
    public int[] Rank { get; }

    public bool Allows(string method) => Methods.Contains(method) || (method == "HEAD" && Methods.Contains("GET"));

    /// <summary>Matches a decoded path; the values of parameters (and "*" for a prefix's rest), or null.</summary>
    public IReadOnlyDictionary<string, string>? Match(string path)
    {
        if (!_prefix) return MatchExact(path);
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (_prefix ? parts.Length < _segments.Length : parts.Length != _segments.Length) return null;
        // "/a/" matches "/a" only for prefixes; exact routes compare segment counts, so "/a/b" never matches "/a".
        Dictionary<string, string>? values = null;
        for (int i = 0; i < _segments.Length; i++)
        {
            var seg = _segments[i];
            if (seg.StartsWith('{'))
                (values ??= new Dictionary<string, string>(StringComparer.Ordinal))[seg[1..^1]] = parts[i];
            else if (!string.Equals(seg, parts[i], StringComparison.Ordinal))
                return null;
        }
        values ??= new Dictionary<string, string>(StringComparer.Ordinal);
        if (_prefix) values["*"] = string.Join('/', parts.Skip(_segments.Length));
        return values;
    }

    /// <summary>An exact or parameter pattern, segment by segment over the path (empty segments skipped, as the prefix
    /// match's split does), allocating only the values of parameters.</summary>
    private IReadOnlyDictionary<string, string>? MatchExact(string path)
    {
        Dictionary<string, string>? values = null;
        var rest = path.AsSpan();
        int i = 0;
        while (true)
        {
            rest = rest.TrimStart('/');
            if (rest.IsEmpty) break;
            int slash = rest.IndexOf('/');
            var part = slash < 0 ? rest : rest[..slash];
            rest = rest[part.Length..];
            if (i == _segments.Length) return null;
            var seg = _segments[i++];
            if (seg.StartsWith('{')) (values ??= new Dictionary<string, string>(StringComparer.Ordinal))[seg[1..^1]] = part.ToString();
            else if (!part.SequenceEqual(seg)) return null;
        }
        if (i != _segments.Length) return null;
        return values ?? NoValues;
    }

    /// <summary>Orders candidates: the more specific route first.</summary>
    public static int CompareSpecificity(HttpRoute a, HttpRoute b)
    {
        if (a._prefix != b._prefix) return a._prefix ? 1 : -1;
        for (int i = 0; i < Math.Min(a.Rank.Length, b.Rank.Length); i++)
            if (a.Rank[i] != b.Rank[i]) return b.Rank[i] - a.Rank[i];
        return b.Rank.Length - a.Rank.Length; // longer prefix first
    }
}

/// <summary>The route table: finds the most specific route for a path, or says why none fits (404, or 405 with Allow).</summary>
internal sealed class HttpRouter
{
    private HttpRoute[] _routes = [];
    private readonly object _lock = new();

    public void Add(HttpRoute route)
    {
        lock (_lock)
        {
            var routes = _routes.Append(route).ToList();
            routes.Sort(HttpRoute.CompareSpecificity);
            _routes = routes.ToArray();
        }
    }

    public IEnumerable<string> AllMethods => Volatile.Read(ref _routes).SelectMany(r => r.Methods).Distinct();

    /// <summary>The route for the request, with its values; or null and the methods the path allows (empty: 404).</summary>
    public (HttpRoute? Route, IReadOnlyDictionary<string, string>? Values, List<string>? Allowed) Match(string method, string path)
    {
        List<string>? allowed = null;
        foreach (var route in Volatile.Read(ref _routes))
        {
            var values = route.Match(path);
            if (values is null) continue;
            if (route.Allows(method)) return (route, values, null);
            allowed ??= new List<string>();
            foreach (var m in route.Methods) if (!allowed.Contains(m)) allowed.Add(m);
            if (route.Methods.Contains("GET") && !allowed.Contains("HEAD")) allowed.Add("HEAD");
        }
        return (null, null, allowed);
    }
}
