using System.Net;

namespace Asio2.Rx;

/// <summary>
/// One received request: the parsed head (method, target, decoded path and query, headers, cookies) and a
/// <see cref="Body"/> that streams. Immutable except for the body, which is read once.
/// </summary>
public sealed class HttpRequest
{
    private readonly HttpRequestHead _head;
    private IReadOnlyDictionary<string, string>? _query;
    private IReadOnlyDictionary<string, string>? _cookies;

    internal HttpRequest(HttpRequestHead head, Session session, HttpRequestBody body)
    {
        _head = head;
        Session = session;
        Body = body;
        int q = head.Target.IndexOf('?');
        RawPath = q < 0 ? head.Target : head.Target[..q];
        QueryString = q < 0 ? "" : head.Target[(q + 1)..];
        Path = RawPath.Contains('%') ? Uri.UnescapeDataString(RawPath) : RawPath;
    }

    internal HttpRequestHead Head => _head;

    /// <summary>The method, as sent (methods are case-sensitive): "GET", "POST", ...</summary>
    public string Method => _head.Method;

    /// <summary>The request target as sent: path and query, still escaped ("*" for <c>OPTIONS *</c>).</summary>
    public string Target => _head.Target;

    /// <summary>The path, percent-decoded ("/files/a b.txt").</summary>
    public string Path { get; }

    /// <summary>The path as sent, still escaped.</summary>
    public string RawPath { get; }

    /// <summary>The query after '?', still escaped; "" when there is none.</summary>
    public string QueryString { get; }

    /// <summary>The query's parameters, decoded (<c>+</c> is a space); a repeated name keeps its last value.</summary>
    public IReadOnlyDictionary<string, string> Query => _query ??= HttpForms.ParseUrlEncoded(QueryString);

    /// <summary>HTTP/1.1 or HTTP/1.0.</summary>
    public Version Version => _head.Version == 11 ? HttpVersion.Version11 : HttpVersion.Version10;

    /// <summary>The header fields, in order.</summary>
    public HttpHeaders Headers => _head.Headers;

    /// <summary>The <c>Host</c> header, or null (HTTP/1.0 may omit it).</summary>
    public string? Host => _head.Headers["Host"];

    /// <summary>The cookies of the <c>Cookie</c> header(s); a repeated name keeps its first value.</summary>
    public IReadOnlyDictionary<string, string> Cookies => _cookies ??= ParseCookies(_head.Headers);

    /// <summary>The body length announced by <c>Content-Length</c>; null for a chunked body; 0 when there is no body.</summary>
    public long? ContentLength => _head.Chunked ? null : _head.ContentLength;

    /// <summary>The <c>Content-Type</c> header, or null.</summary>
    public string? ContentType => _head.Headers["Content-Type"];

    /// <summary>True when the client may send another request on this connection after the response.</summary>
    public bool KeepAlive => _head.KeepAlive;

    /// <summary>The body: streamed in pieces as it arrives, read once.</summary>
    public HttpRequestBody Body { get; }

    /// <summary>The connection's session (remote address, TLS details, close reason, user data).</summary>
    public Session Session { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Method} {Target}";

    private static readonly IDisposable[] s_ended = [];
    private IDisposable[]? _onEnd; // null, what to dispose when the request ends, or s_ended once it ended

    /// <summary>Disposes <paramref name="resource"/> when the request ends (its response written, or its connection
    /// closed); at once when it ended already. Any thread.</summary>
    internal void DisposeOnEnd(IDisposable resource)
    {
        var current = Volatile.Read(ref _onEnd);
        while (!ReferenceEquals(current, s_ended))
        {
            IDisposable[] next = current is null ? [resource] : [.. current, resource];
            var seen = Interlocked.CompareExchange(ref _onEnd, next, current);
            if (ReferenceEquals(seen, current)) return;
            current = seen;
        }
        resource.Dispose();
    }

    /// <summary>The request ended: disposes what was registered with <see cref="DisposeOnEnd"/>.</summary>
    internal void End()
    {
        if (Volatile.Read(ref _onEnd) is null && Interlocked.CompareExchange(ref _onEnd, s_ended, null) is null) return;
        var list = Interlocked.Exchange(ref _onEnd, s_ended);
        if (list is null) return;
        foreach (var resource in list) resource.Dispose();
    }

    private static Dictionary<string, string> ParseCookies(HttpHeaders headers)
    {
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var header in headers.GetValues("Cookie"))
        {
            foreach (var pair in header.Split(';'))
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0) continue;
                var name = pair[..eq].Trim();
                var value = pair[(eq + 1)..].Trim();
                if (value.Length >= 2 && value[0] == '"' && value[^1] == '"') value = value[1..^1];
                cookies.TryAdd(name, value);
            }
        }
        return cookies;
    }
}
