namespace Asio2.Rx;

/// <summary>
/// Settings of an <see cref="HttpServer"/>: everything a <see cref="TcpServerOptions"/> has (TLS, schedulers, send
/// queue, drain timeout, logging) plus the HTTP limits. <see cref="SessionOptions.Framing"/> is ignored: the server
/// brings its own HTTP/1.1 framing.
/// </summary>
public sealed class HttpServerOptions : TcpServerOptions
{
    private HttpLimits _limits = new();

    /// <summary>Request size and time limits. Defaults to Kestrel's defaults (see <see cref="HttpLimits"/>).</summary>
    public HttpLimits Limits
    {
        get => _limits;
        set => _limits = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The <c>Server</c> response header, or null to send none. Defaults to "Asio2.Rx".</summary>
    public string? ServerHeader { get; set; } = "Asio2.Rx";

    /// <summary>How long <see cref="HttpServer.StopAsync"/> lets requests in flight finish before closing their
    /// connections. Defaults to 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Limits on what one request may cost. The defaults are Kestrel's, so a client that works against ASP.NET Core works
/// here; each limit crossed gets the status Kestrel gives and a closed connection.
/// </summary>
public sealed class HttpLimits
{
    private int _maxRequestLineSize = 8 * 1024;
    private int _maxRequestHeadersTotalSize = 32 * 1024;
    private int _maxRequestHeaderCount = 100;
    private long _maxRequestBodySize = 30_000_000;
    private TimeSpan _requestHeadersTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _keepAliveTimeout = TimeSpan.FromSeconds(130);
    private double _minRequestBodyDataRate = 240;
    private TimeSpan _minRequestBodyDataRateGracePeriod = TimeSpan.FromSeconds(5);

    /// <summary>Longest request line (method, target, version, CRLF). Longer: 414. Defaults to 8 KiB.</summary>
    public int MaxRequestLineSize
    {
        get => _maxRequestLineSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 16); _maxRequestLineSize = value; }
    }

    /// <summary>Most bytes of header fields (request line excluded). More: 431. Also bounds a chunked body's
    /// trailers. Defaults to 32 KiB.</summary>
    public int MaxRequestHeadersTotalSize
    {
        get => _maxRequestHeadersTotalSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 64); _maxRequestHeadersTotalSize = value; }
    }

    /// <summary>Most header fields. More: 431. Defaults to 100.</summary>
    public int MaxRequestHeaderCount
    {
        get => _maxRequestHeaderCount;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxRequestHeaderCount = value; }
    }

    /// <summary>Largest request body, announced or chunked. Larger: 413. Defaults to 30 000 000 bytes (Kestrel's ~28.6 MiB).</summary>
    public long MaxRequestBodySize
    {
        get => _maxRequestBodySize;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _maxRequestBodySize = value; }
    }

    /// <summary>Time allowed from the first byte of a request to the end of its header section. Exceeded: 408 and close.
    /// Defaults to 30 s: slow-loris protection.</summary>
    public TimeSpan RequestHeadersTimeout
    {
        get => _requestHeadersTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _requestHeadersTimeout = value; }
    }

    /// <summary>An idle connection (no request in flight, no bytes of the next one) is closed after this. Defaults to 130 s.</summary>
    public TimeSpan KeepAliveTimeout
    {
        get => _keepAliveTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _keepAliveTimeout = value; }
    }

    /// <summary>Slowest average rate, in bytes per second, at which a request body may arrive once the grace period
    /// has passed. Slower: 408 and close. 0 turns the check off. Defaults to 240 B/s.</summary>
    public double MinRequestBodyDataRate
    {
        get => _minRequestBodyDataRate;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _minRequestBodyDataRate = value; }
    }

    /// <summary>How long a body may arrive slower than <see cref="MinRequestBodyDataRate"/> before the check applies.
    /// Defaults to 5 s.</summary>
    public TimeSpan MinRequestBodyDataRateGracePeriod
    {
        get => _minRequestBodyDataRateGracePeriod;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero); _minRequestBodyDataRateGracePeriod = value; }
    }
}
