using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>Settings of a <see cref="WebSocketClient"/>.</summary>
public sealed class WebSocketClientOptions : WebSocketOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(5);
    private TimeSpan _handshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>An attempt whose TCP connect has not finished after this long fails with
    /// <see cref="CloseKind.ConnectTimeout"/>. Defaults to 5 s, as <see cref="TcpClientOptions.ConnectTimeout"/>.</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _connectTimeout = value; }
    }

    /// <summary>The server must answer the upgrade request (after TLS, for <c>wss://</c>) within this long, or the
    /// attempt fails with <see cref="CloseKind.HandshakeTimeout"/>. Defaults to 10 s.</summary>
    public TimeSpan HandshakeTimeout
    {
        get => _handshakeTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _handshakeTimeout = value; }
    }

    /// <summary>Reconnection policy. Defaults to enabled, 1 s doubling up to 30 s.</summary>
    public ReconnectOptions Reconnect { get; set; } = new();

    /// <summary>TLS settings for <c>wss://</c> URLs (trusted CA, client certificate, ...). Defaults to null: system
    /// trust, the URL's host as the expected name.</summary>
    public TlsClientOptions? Tls { get; set; }

    /// <summary>Extra request header fields sent with the upgrade request (e.g. <c>Authorization</c>, <c>Cookie</c>,
    /// <c>Origin</c>). Defaults to none.</summary>
    public IList<KeyValuePair<string, string>> Headers { get; set; } = new List<KeyValuePair<string, string>>();

    /// <summary>Disable Nagle's algorithm. Defaults to true: the send queue already coalesces small messages.</summary>
    public bool NoDelay { get; set; } = true;
}

/// <summary>
/// A WebSocket client whose connections are a stream, as <see cref="TcpClient"/>: it connects to a <c>ws://</c> or
/// <c>wss://</c> URL, reconnects with back-off when the connection ends (unless told not to), and forwards the messages
/// of every connection to one <see cref="ReconnectingClient.Frames"/> stream.
/// </summary>
/// <example>
/// <code>
/// await using var client = new WebSocketClient();
/// client.Frames.Subscribe(f => Console.WriteLine(f.Text));
/// await client.Connect("ws://127.0.0.1:8080/chat");
/// await client.Send("hello");    // a text message
/// </code>
/// </example>
/// <remarks>
/// Each attempt connects TCP (and TLS for <c>wss://</c>) through the same transports as <see cref="TcpClient"/>, sends
/// the upgrade request (RFC 6455 §4.1) with the subprotocols, compression offer and headers of the options, checks the
/// 101, and hands the connection to a <see cref="WebSocketSession"/>. A refused upgrade (any other status, a wrong
/// accept value, an extension or subprotocol not offered) fails the attempt with <see cref="CloseKind.HandshakeFailed"/>
/// and backs off like a failed TLS handshake.
/// </remarks>
public sealed class WebSocketClient : ReconnectingClient
{
    /// <summary>A response head longer than this fails the attempt (Kestrel's request-header limit).</summary>
    private const int MaxResponseHead = 32 * 1024;

    private readonly WebSocketClientOptions _options;
    private readonly WebSocketSettings _wsSettings;
    private readonly TlsClientSettings? _tls;
    private readonly SessionSettings _headSettings;
    private readonly IReadOnlyList<string> _subProtocols;
    private readonly WebSocketCompressionOptions? _compression;
    private readonly KeyValuePair<string, string>[] _headers;
    private Uri? _uri;

    /// <summary>Creates a client; nothing happens until <see cref="Connect(string)"/>.</summary>
    public WebSocketClient(WebSocketClientOptions? options = null)
        : this(options ?? new WebSocketClientOptions(), 0)
    {
    }

    private WebSocketClient(WebSocketClientOptions options, int _)
        : base(options.Resolve("ws"), options.ConnectTimeout + options.HandshakeTimeout, options.Reconnect)
    {
        _options = options;
        _wsSettings = options.ResolveWebSocket();
        _tls = (options.Tls ?? new TlsClientOptions()).Resolve();
        _subProtocols = options.SubProtocols.ToArray();
        _compression = options.Compression?.Clone();
        _headers = options.Headers.ToArray();
        // The upgrade exchange runs over an ordinary stream session: the response head is one frame ending in an
        // empty line, then the session hands the connection over.
        _headSettings = new SessionOptions
        {
            Framing = Framing.Delimiter("\r\n\r\n", maxFrameSize: MaxResponseHead),
            DrainTimeout = options.DrainTimeout,
            Logger = options.Logger,
        }.Resolve("ws");
    }

    /// <summary>The URL given to <see cref="Connect(Uri)"/>; null before.</summary>
    public Uri? Url => _uri;

    /// <summary>Starts connecting to <paramref name="url"/> (<c>ws://host[:port]/path[?query]</c> or <c>wss://...</c>)
    /// and keeps the client connected per its reconnect options. Returns the first connection (a
    /// <see cref="WebSocketSession"/>), once it has started; see <see cref="NetworkClient.Connect(string, int)"/>.</summary>
    public IObservable<Session> Connect(string url) => Connect(new Uri(url, UriKind.Absolute));

    /// <summary>Starts connecting to <paramref name="url"/>; see <see cref="Connect(string)"/>.</summary>
    public IObservable<Session> Connect(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme is not ("ws" or "wss"))
            throw new ArgumentException($"A WebSocket URL starts with ws:// or wss://, not {url.Scheme}://.", nameof(url));
        if (!string.IsNullOrEmpty(url.Fragment)) throw new ArgumentException("A WebSocket URL has no fragment (RFC 6455 §3).", nameof(url));
        if (Interlocked.CompareExchange(ref _uri, url, null) is not null)
            throw new InvalidOperationException("Connect was already called on this client; create another client for another URL.");
        return StartConnecting();
    }

    private protected override string TargetName => _uri?.ToString() ?? "(none)";

    private protected override async ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken)
    {
        var uri = _uri!;
        bool secure = uri.Scheme == "wss";
        EndPoint endPoint = IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var ip) ? new IPEndPoint(ip, uri.Port) : new DnsEndPoint(uri.IdnHost, uri.Port);
        var socket = endPoint is IPEndPoint ipe ? new Socket(ipe.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        Transport transport;
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            socket.NoDelay = _options.NoDelay;
            transport = secure ? new TlsTransport(socket, _tls!, _tls!.TargetHostFor(endPoint)) : new SocketTransport(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = StreamSession.Create(transport, _headSettings, Scheduler);
        string key = WebSocketHandshake.CreateKey();
        var (head, detached) = await UpgradeAsync(connection, uri, key, cancellationToken).ConfigureAwait(false);
        string? failure = "the response head is not valid HTTP/1.1";
        var agreed = TryParseHead(head, out int status, out var headers)
            ? WebSocketHandshake.CheckResponse(status, headers!, key, _subProtocols, _compression, out failure)
            : null;
        if (agreed is null)
        {
            detached.Stream.Dispose();
            throw new ConnectException(new CloseReason(CloseKind.HandshakeFailed, null, $"WebSocket upgrade refused: {failure}"));
        }
        return new WebSocketSession(detached.Stream, detached.Buffered, isServer: false, agreed.SubProtocol, agreed.Deflate, null,
            _wsSettings, Settings, Scheduler, detached.LocalEndPoint, detached.RemoteEndPoint);
    }

    /// <summary>Sends the upgrade request over <paramref name="connection"/> and waits (within the handshake timeout, on
    /// the client's scheduler) for the response head; then takes the connection over.</summary>
    private async Task<(string Head, DetachedConnection Connection)> UpgradeAsync(Session connection, Uri uri, string key, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<(string, DetachedConnection)>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Frames.Take(1).Subscribe(frame =>
        {
            string head = frame.Text;
            frame.Session.DetachAsync().ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) done.TrySetResult((head, t.Result));
                else done.TrySetException(new ConnectException(new CloseReason(CloseKind.HandshakeFailed, t.Exception, "the connection closed during the upgrade")));
            }, TaskScheduler.Default);
        });
        connection.Closed.Subscribe(reason =>
        {
            if (reason.Kind != CloseKind.Upgraded)
                done.TrySetException(new ConnectException(reason.Kind is CloseKind.HandshakeFailed or CloseKind.HandshakeTimeout
                    ? reason
                    : new CloseReason(CloseKind.HandshakeFailed, reason.Exception, $"no upgrade response: {reason}")));
        });
        var timeout = Scheduler.Schedule(connection, _options.HandshakeTimeout, static (_, c) =>
        {
            c.Shutdown(new CloseReason(CloseKind.HandshakeTimeout, null, "the server did not answer the upgrade request in time"), graceful: false);
            return Disposable.Empty;
        });
        using var cancel = cancellationToken.Register(static c => ((Session)c!).Abort(), connection);
        connection.Start();
        var extension = _compression is null ? null : PerMessageDeflate.CreateOffer(_compression);
        _ = connection.Send(WebSocketHandshake.BuildRequest(uri, key, _subProtocols, extension, _headers));
        try
        {
            return await done.Task.ConfigureAwait(false);
        }
        finally
        {
            timeout.Dispose();
        }
    }

    /// <summary>Status line and header fields of a response head (without its final empty line). Strict: no obs-fold,
    /// no field without a colon.</summary>
    private static bool TryParseHead(string head, out int status, out HeaderList? headers)
    {
        status = 0;
        headers = null;
        var lines = head.Split("\r\n");
        var statusLine = lines[0].Split(' ', 3);
        if (statusLine.Length < 2 || !statusLine[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || statusLine[1].Length != 3
            || !int.TryParse(statusLine[1], NumberStyles.None, CultureInfo.InvariantCulture, out status)) return false;
        var fields = new List<KeyValuePair<string, string>>(lines.Length);
        for (int i = 1; i < lines.Length; i++)
        {
            string line = lines[i];
            int colon = line.IndexOf(':');
            if (colon <= 0 || line[0] is ' ' or '\t' || line[colon - 1] is ' ' or '\t') return false;
            fields.Add(new(line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
        }
        headers = new HeaderList(fields);
        return true;
    }
}
