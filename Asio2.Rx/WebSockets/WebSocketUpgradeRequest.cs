namespace Asio2.Rx;

/// <summary>
/// The HTTP request that opened a server-side WebSocket session: target, path, query, headers and cookies, for
/// routing, authentication and per-session state. Immutable.
/// </summary>
public sealed class WebSocketUpgradeRequest
{
    private readonly HeaderList _headers;

    internal WebSocketUpgradeRequest(string target, HeaderList headers)
    {
        Target = target;
        _headers = headers;
        int q = target.IndexOf('?');
        Path = Uri.UnescapeDataString(q < 0 ? target : target[..q]);
        QueryString = q < 0 ? "" : target[(q + 1)..];
        Query = ParsePairs(QueryString, '&', '=', unescape: true);
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in headers.GetAll("Cookie"))
            foreach (var (k, v) in ParsePairs(field, ';', '=', unescape: false))
                cookies.TryAdd(k, v);
        Cookies = cookies;
    }

    /// <summary>The request target as sent (path and query, still percent-encoded).</summary>
    public string Target { get; }

    /// <summary>The decoded path, e.g. "/chat".</summary>
    public string Path { get; }

    /// <summary>The query after '?', still encoded; empty when there is none.</summary>
    public string QueryString { get; }

    /// <summary>Decoded query parameters; the first value wins when a name repeats.</summary>
    public IReadOnlyDictionary<string, string> Query { get; }

    /// <summary>Cookies from the <c>Cookie</c> header(s); the first value wins when a name repeats.</summary>
    public IReadOnlyDictionary<string, string> Cookies { get; }

    /// <summary>Every header field in arrival order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => _headers.Fields;

    /// <summary>The first value of header <paramref name="name"/> (case-insensitive), or null.</summary>
    public string? GetHeader(string name) => _headers.Get(name);

    /// <inheritdoc/>
    public override string ToString() => $"GET {Target}";

    private static Dictionary<string, string> ParsePairs(string s, char separator, char equals, bool unescape)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in s.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf(equals);
            string key = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "" : part[(eq + 1)..];
            if (unescape)
            {
                key = Uri.UnescapeDataString(key.Replace('+', ' '));
                value = Uri.UnescapeDataString(value.Replace('+', ' '));
            }
            pairs.TryAdd(key, value);
        }
        return pairs;
    }
}
