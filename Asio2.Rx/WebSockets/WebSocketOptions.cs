namespace Asio2.Rx;

/// <summary>
/// Settings every WebSocket session has, server or client side: message size limit, keep-alive pings,
/// subprotocols and compression, on top of the session settings (send-queue bound, drain timeout, logging...).
/// </summary>
public class WebSocketOptions : SessionOptions
{
    private int _maxMessageSize = 1024 * 1024;
    private TimeSpan? _pingInterval = TimeSpan.FromSeconds(30);
    private TimeSpan _pongTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The largest message accepted, after reassembling its fragments (and inflating it, with compression).
    /// A larger one closes the session with code 1009 (<see cref="CloseKind.FrameTooLarge"/>). Defaults to 1 MiB, as
    /// asio2/Beast: enough for ordinary messages, small enough that a peer cannot make a session hold much memory.</summary>
    public int MaxMessageSize
    {
        get => _maxMessageSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxMessageSize = value; }
    }

    /// <summary>After this long without receiving anything, the session sends a ping; null: never. Defaults to 30 s:
    /// well inside the idle timeouts of common proxies and NATs (60 s and more), so it also keeps the path open.</summary>
    public TimeSpan? PingInterval
    {
        get => _pingInterval;
        set
        {
            if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            _pingInterval = value;
        }
    }

    /// <summary>When nothing at all (no pong, no message) arrives this long after a ping, the peer is taken for gone
    /// (a half-open connection) and the session closes with <see cref="CloseKind.KeepAliveTimeout"/>. Defaults to
    /// 20 s: generous for a slow link, and a dead peer is found within 50 s with the default interval.</summary>
    public TimeSpan PongTimeout
    {
        get => _pongTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _pongTimeout = value; }
    }

    /// <summary>Subprotocols (<c>Sec-WebSocket-Protocol</c>): a client offers them in this order; a server picks the
    /// first of its list that the client offered, or none. Defaults to empty.</summary>
    public IList<string> SubProtocols { get; set; } = new List<string>();

    /// <summary>permessage-deflate (RFC 7692), or null for none. Defaults to null: see
    /// <see cref="WebSocketCompressionOptions"/> for why it is opt-in.</summary>
    public WebSocketCompressionOptions? Compression { get; set; }

    internal WebSocketSettings ResolveWebSocket() => new(_maxMessageSize, _pingInterval, _pongTimeout);
}

/// <summary>Resolved per-session WebSocket settings.</summary>
internal sealed record WebSocketSettings(int MaxMessageSize, TimeSpan? PingInterval, TimeSpan PongTimeout);
