using System.Net;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>Settings of a WebSocket endpoint on an <see cref="HttpServer"/> route, or of a <see cref="WebSocketServer"/>.</summary>
public sealed class WebSocketServerOptions : WebSocketOptions
{
    /// <summary>Decides on the <c>Origin</c> header (null when the client sent none; browsers always send it): false
    /// refuses the upgrade with 403 (RFC 6455 §4.2.2), the defence against cross-site WebSocket hijacking when sessions
    /// are authenticated by cookies. Defaults to null: every origin is accepted.</summary>
    public Func<string?, bool>? OriginCheck { get; set; }

    /// <summary>The HTTP server of a <see cref="WebSocketServer"/>: TLS (<c>wss://</c>), socket settings, limits. Its
    /// <see cref="HttpLimits.RequestHeadersTimeout"/> is the handshake timeout: a client that never finishes its upgrade
    /// request is answered 408 and closed. Ignored by <see cref="WebSocketHttpExtensions.MapWebSocket"/>, whose server
    /// has its own options. Defaults to the HTTP server's defaults.</summary>
    public HttpServerOptions Http { get; set; } = new();
}

/// <summary>
/// The WebSocket sessions of one route: <see cref="Sessions"/> (hot, announce-then-start, as every server's), lookup,
/// broadcast and a graceful stop that sends 1001 to every session. Made by
/// <see cref="WebSocketHttpExtensions.MapWebSocket"/>; a <see cref="WebSocketServer"/> has one.
/// </summary>
/// <remarks>The upgrade request is validated (RFC 6455 §4.2.1): a malformed one gets 400 (426 for another version,
/// 403 for a refused origin) and never becomes a session. The route's before-hooks run first, so authentication can
/// answer 401/403 without a session ever existing.</remarks>
public sealed class WebSocketEndpoint
{
    private readonly SessionRegistry _registry;
    private readonly SessionSettings _settings;
    private readonly WebSocketSettings _wsSettings;
    private readonly WebSocketAcceptSettings _accept;

    /// <param name="options">The endpoint's settings.</param>
    /// <param name="connections">The pool of the HTTP server's connections: each session keeps its connection's scheduler.</param>
    internal WebSocketEndpoint(WebSocketServerOptions options, SchedulerPool connections)
    {
        _settings = options.Resolve("ws");
        _wsSettings = options.ResolveWebSocket();
        _accept = new WebSocketAcceptSettings(options.SubProtocols.ToArray(), options.Compression?.Clone(), options.OriginCheck);
        _registry = new SessionRegistry(_settings, connections);
    }

    /// <summary>WebSocket sessions, hot: each one after its upgrade. Completes when <see cref="StopAsync"/> finishes.</summary>
    public IObservable<Session> Sessions => _registry.Sessions;

    /// <summary>Sessions open now.</summary>
    public int SessionCount => _registry.Count;

    /// <summary>A snapshot of the open sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => _registry.GetSessions();

    /// <summary>The open session with this id, or null.</summary>
    public Session? FindSession(long id) => _registry.Find(id);

    /// <summary>Sends a binary message to every open session; returns how many accepted it.</summary>
    public int Broadcast(ReadOnlySpan<byte> data) => _registry.Broadcast(data);

    /// <summary>Sends a text message to every open session; returns how many accepted it.</summary>
    public int Broadcast(string text)
    {
        int n = 0;
        foreach (var s in _registry.GetSessions())
            if (!s.Send(text).IsRejected) n++;
        return n;
    }

    /// <summary>Closes every session with 1001 (going away) after its queued messages, waits for them to end, then
    /// completes <see cref="Sessions"/>; upgrades that finish afterwards are closed at once. Safe to call twice.</summary>
    public async Task StopAsync()
    {
        await _registry.StopSessionsAsync().ConfigureAwait(false);
        _registry.Complete();
    }

    /// <summary>The route handler: validate, answer 101 with the agreed headers, take the connection over.</summary>
    internal async Task AcceptAsync(HttpContext context)
    {
        var request = context.Request;
        var headers = new HeaderList(request.Headers);
        var accepted = WebSocketHandshake.Accept(request.Method, request.Version, headers, _accept, out var rejection);
        if (accepted is null)
        {
            _settings.Metrics.Drop("ws", "bad_upgrade");
            int status = WebSocketHandshake.StatusOf(rejection);
            if (status == 426) context.Response.Headers.Set("Sec-WebSocket-Version", WebSocketHandshake.Version);
            context.Response.Send(status, $"WebSocket upgrade refused: {rejection}");
            return;
        }
        foreach (var (name, value) in accepted.ResponseHeaders)
            if (!name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) context.Response.Headers.Set(name, value);
        DetachedConnection connection;
        try
        {
            connection = await context.AcceptUpgradeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The connection closed before the hand-over: nothing to take over.
            Asio2Log.WebSocketUpgradeIncomplete(_settings.Logger, ex, request);
            return;
        }
        var session = new WebSocketSession(connection.Stream, connection.Buffered, isServer: true, accepted.SubProtocol, accepted.Deflate,
            new WebSocketUpgradeRequest(request.Target, headers), _wsSettings, _settings, connection.Scheduler,
            connection.LocalEndPoint, connection.RemoteEndPoint);
        _registry.TryAnnounce(session);
    }
}

/// <summary>WebSocket on an <see cref="HttpServer"/> route: the same port serves HTTP and WebSocket (asio2's
/// <c>support_websocket</c>).</summary>
public static class WebSocketHttpExtensions
{
    /// <summary>
    /// Serves WebSocket on <paramref name="pattern"/> (GET with an upgrade; other requests there get 426). Returns the
    /// route's sessions. <paramref name="hooks"/> run before the upgrade and may refuse it (e.g. 401/403).
    /// </summary>
    /// <example>
    /// <code>
    /// var http = new HttpServer();
    /// var chat = http.MapWebSocket("/chat");
    /// chat.Sessions.SelectMany(s => s.Frames).Subscribe(f => chat.Broadcast(f.Text));
    /// http.Start("127.0.0.1", 8080);
    /// </code>
    /// </example>
    public static WebSocketEndpoint MapWebSocket(this HttpServer server, string pattern, WebSocketServerOptions? options = null, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(server);
        var endpoint = new WebSocketEndpoint(options ?? new WebSocketServerOptions(), server.Schedulers);
        server.MapUpgrade(pattern, endpoint.AcceptAsync, hooks);
        return endpoint;
    }
}
