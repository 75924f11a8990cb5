using System.Net;

namespace Asio2.Rx;

/// <summary>
/// A standalone WebSocket server: an <see cref="HttpServer"/> with one WebSocket route (every path by default), so
/// upgrades are parsed by the one HTTP parser with its limits and timeouts. For WebSocket next to other HTTP routes on
/// one port, use <see cref="WebSocketHttpExtensions.MapWebSocket"/> instead.
/// </summary>
/// <example>
/// <code>
/// await using var server = new WebSocketServer();
/// server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data.Span, f.Kind));   // echo
/// var bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
public sealed class WebSocketServer : IDisposable, IAsyncDisposable
{
    private readonly HttpServer _http;
    private readonly WebSocketEndpoint _endpoint;
    private Task? _stop;

    /// <summary>Creates a server serving WebSocket on <paramref name="path"/> ("/*" = every path).</summary>
    public WebSocketServer(WebSocketServerOptions? options = null, string path = "/*")
    {
        options ??= new WebSocketServerOptions();
        _http = new HttpServer(options.Http);
        _endpoint = _http.MapWebSocket(path, options);
    }

    /// <summary>WebSocket sessions, hot. Completes on stop.</summary>
    public IObservable<Session> Sessions => _endpoint.Sessions;

    /// <summary>The bound address, once started.</summary>
    public IPEndPoint? LocalEndPoint => _http.LocalEndPoint;

    /// <summary>Sessions open now.</summary>
    public int SessionCount => _endpoint.SessionCount;

    /// <summary>A snapshot of the open sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => _endpoint.GetSessions();

    /// <summary>Sends a binary message to every open session; returns how many accepted it.</summary>
    public int Broadcast(ReadOnlySpan<byte> data) => _endpoint.Broadcast(data);

    /// <summary>Sends a text message to every open session; returns how many accepted it.</summary>
    public int Broadcast(string text) => _endpoint.Broadcast(text);

    /// <summary>Starts on <paramref name="host"/> and <paramref name="port"/> (0 picks a free port). Returns the bound endpoint.</summary>
    public IPEndPoint Start(string host, int port) => _http.Start(host, port);

    /// <summary>Starts on <paramref name="endPoint"/>.</summary>
    public IPEndPoint Start(IPEndPoint endPoint) => _http.Start(endPoint);

    /// <summary>Stops accepting, closes every session with 1001 after its queued messages, completes <see cref="Sessions"/>.</summary>
    public Task StopAsync()
    {
        lock (_endpoint) return _stop ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        await _http.StopAsync().ConfigureAwait(false);
        await _endpoint.StopAsync().ConfigureAwait(false);
    }

    /// <summary>Starts <see cref="StopAsync"/> and returns without waiting.</summary>
    public void Dispose() => _ = StopAsync();

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());
}
