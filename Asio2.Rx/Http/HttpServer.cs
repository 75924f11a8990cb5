using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Reactive;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// An HTTP/1.1 server (HTTPS with <see cref="TcpServerOptions.Tls"/>): every request is on the hot
/// <see cref="Requests"/> stream, and routes (<see cref="Map{T}(string, string, Func{HttpContext, T}, IHttpHook[])"/>)
/// answer them. One connection is one <see cref="Session"/> of an inner <see cref="TcpServer"/>, so its scheduler
/// pinning, send queue, close reasons, metrics and TLS are the core's.
/// </summary>
/// <example>
/// <code>
/// await using var server = new HttpServer();
/// server.Map("GET", "/hello/{name}", ctx => $"hello {ctx.RouteValues["name"]}");
/// IPEndPoint bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// <para>A request is first raised on <see cref="Requests"/>; if a subscriber answered it there (a <c>Send</c>), routing
/// is skipped. Otherwise global hooks, then the route's hooks, then its handler run; a path no route matches gets 404,
/// a path matched for other methods gets 405 with <c>Allow</c>. A handler that throws (or whose task or observable
/// fails) gets 500 and the connection stays usable.</para>
/// <para>Handlers run on the connection's scheduler, one request at a time per connection; pipelined requests may be
/// answered in any order and are written in request order.</para>
/// </remarks>
public sealed class HttpServer : IDisposable, IAsyncDisposable
{
    private readonly TcpServer _tcp;
    private readonly HttpServerOptions _options;
    private readonly HttpRouter _router = new();
    private IHttpHook[] _hooks = []; // copy-on-write: read per request without a lock
    private readonly Subject<HttpContext> _requests = new();
    private readonly IObserver<HttpContext> _requestsSync;
    private readonly ConcurrentDictionary<HttpConnection, byte> _connections = new();
    private volatile bool _stopping;
    private Task? _stopTask;

    /// <summary>Creates a server; nothing listens until <see cref="Start(string, int)"/>.</summary>
    public HttpServer(HttpServerOptions? options = null)
    {
        _options = options ?? new HttpServerOptions();
        Limits = _options.Limits;
        Logger = _options.Logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        ServerHeaderLine = _options.ServerHeader is { } s ? Encoding.Latin1.GetBytes($"Server: {s}\r\n") : null;
        _options.Framing = new HttpFraming(Limits);
        if (_options.Tls is { } tls && tls.ApplicationProtocols.Count == 0) tls.ApplicationProtocols.Add("http/1.1");
        _tcp = new TcpServer(_options);
        _requestsSync = Observer.Synchronize(_requests);
        _tcp.Sessions.Subscribe(Attach);
    }

    internal HttpLimits Limits { get; }

    internal ILogger Logger { get; }

    internal byte[]? ServerHeaderLine { get; }

    internal bool IsStopping => _stopping;

    /// <summary>The pool every connection is pinned from (and the WebSocket sessions they become).</summary>
    internal SchedulerPool Schedulers => _tcp.Settings.Schedulers;

    /// <summary>Every request, hot, on its connection's scheduler, before routing. Answer one here (any <c>Send</c>) to
    /// take it from the router. Completes when the server stops.</summary>
    public IObservable<HttpContext> Requests => _requests.AsObservable();

    /// <summary>The connections, as the inner TCP server's sessions (hot).</summary>
    public IObservable<Session> Sessions => _tcp.Sessions;

    /// <summary>The bound address, once started.</summary>
    public IPEndPoint? LocalEndPoint => _tcp.LocalEndPoint;

    /// <summary>A snapshot of the open connections' sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => _tcp.GetSessions();

    /// <summary>Listens on <paramref name="host"/> and <paramref name="port"/> (0: any free port); returns the bound endpoint.</summary>
    public IPEndPoint Start(string host, int port) => _tcp.Start(host, port);

    /// <summary>Listens on <paramref name="endPoint"/>; returns the bound endpoint.</summary>
    public IPEndPoint Start(IPEndPoint endPoint) => _tcp.Start(endPoint);

    /// <summary>Adds a global hook: its Before runs for every request the router handles (404 and 405 included), before
    /// any route's hooks; its After runs after theirs.</summary>
    public HttpServer Use(IHttpHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        lock (_router) _hooks = [.. _hooks, hook];
        return this;
    }

    /// <summary>Routes <paramref name="methods"/> (comma-separated, e.g. "GET,POST"; GET also answers HEAD) on
    /// <paramref name="pattern"/> to a handler whose return value is the response: a string (text), bytes, a
    /// <see cref="Stream"/>, a <see cref="FileInfo"/>, null (204) or anything else (JSON). A handler that calls
    /// <c>context.Response.Send</c> itself may return anything; its return value is then ignored.</summary>
    public HttpServer Map<T>(string methods, string pattern, Func<HttpContext, T> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(methods, pattern, ctx =>
        {
            var result = handler(ctx);
            Respond(ctx, result);
            return default;
        }, hooks);
    }

    /// <summary>Routes to a handler that answers through <c>context.Response</c> itself, now or later, from any thread
    /// (asio2's <c>defer</c>).</summary>
    public HttpServer Map(string methods, string pattern, Action<HttpContext> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(methods, pattern, ctx =>
        {
            handler(ctx);
            return default;
        }, hooks);
    }

    /// <summary>Routes to an asynchronous handler that answers through <c>context.Response</c>.</summary>
    public HttpServer Map(string methods, string pattern, Func<HttpContext, Task> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(methods, pattern, ctx => new ValueTask(handler(ctx)), hooks);
    }

    /// <summary>Routes to an asynchronous handler whose result is the response (see <see cref="Map{T}(string, string, Func{HttpContext, T}, IHttpHook[])"/>).</summary>
    public HttpServer Map<T>(string methods, string pattern, Func<HttpContext, Task<T>> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(methods, pattern, async ctx => Respond(ctx, await handler(ctx).ConfigureAwait(false)), hooks);
    }

    /// <summary>Routes to a handler whose observable's first value is the response (no value: 204).</summary>
    public HttpServer Map<T>(string methods, string pattern, Func<HttpContext, IObservable<T>> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(methods, pattern, async ctx =>
        {
            var list = await handler(ctx).Take(1).ToList().ToTask().ConfigureAwait(false);
            Respond(ctx, list.Count == 0 ? null : list[0]);
        }, hooks);
    }

    /// <summary>
    /// Routes upgrade requests (<c>Connection: upgrade</c> plus <c>Upgrade: ...</c>, e.g. WebSocket) for GET on
    /// <paramref name="pattern"/> to <paramref name="handler"/>, which receives the parsed request and either accepts with
    /// <see cref="HttpContext.AcceptUpgradeAsync"/> (the server writes the response head it was given, by default 101
    /// with the headers set on <c>context.Response</c>, then hands over the connection as a <see cref="DetachedConnection"/>
    /// holding any bytes already read) or declines by sending an ordinary response (the connection then closes, since
    /// the client may already speak the new protocol). A request on this pattern without an upgrade gets 426.
    /// </summary>
    /// <example>
    /// <code>
    /// server.MapUpgrade("/echo", async ctx =>
    /// {
    ///     ctx.Response.Headers.Set("Upgrade", "echo");
    ///     DetachedConnection connection = await ctx.AcceptUpgradeAsync();
    ///     await using var stream = connection.Stream;
    ///     await stream.WriteAsync(connection.Buffered);   // bytes the client sent right after its request
    ///     await stream.CopyToAsync(stream);
    /// });
    /// </code>
    /// </example>
    public HttpServer MapUpgrade(string pattern, Func<HttpContext, Task> handler, params IHttpHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add("GET", pattern, ctx =>
        {
            if (ctx.IsUpgradeRequest) return new ValueTask(handler(ctx));
            ctx.Response.Send(426);
            return default;
        }, hooks);
    }

    /// <summary>Serves the files under <paramref name="root"/> for GET and HEAD below <paramref name="prefix"/>
    /// ("/" for the whole site): MIME types, index.html, Range, ETag and Last-Modified, traversal refused.</summary>
    public HttpServer MapFiles(string prefix, string root, params IHttpHook[] hooks)
    {
        var files = new StaticFiles(root);
        var pattern = prefix.TrimEnd('/') + "/*";
        return Add("GET", pattern, ctx =>
        {
            files.Serve(ctx);
            return default;
        }, hooks);
    }

    private HttpServer Add(string methods, string pattern, Func<HttpContext, ValueTask> handler, IHttpHook[] hooks)
    {
        ArgumentException.ThrowIfNullOrEmpty(methods);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var list = methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var m in list)
            if (!HttpHeadParser.IsToken(Encoding.ASCII.GetBytes(m))) throw new ArgumentException($"'{m}' is not a method token.", nameof(methods));
        _router.Add(new HttpRoute(list, pattern, handler, hooks ?? []));
        return this;
    }

    /// <summary>Turns a handler's return value into the response, unless the handler already sent one.</summary>
    internal static void Respond(HttpContext ctx, object? result)
    {
        var response = ctx.Response;
        if (response.HasStarted) return;
        switch (result)
        {
            case null: response.Send(204); break;
            case string text: response.Send(text); break;
            case byte[] bytes: response.Send(bytes.AsMemory()); break;
            case ReadOnlyMemory<byte> memory: response.Send(memory); break;
            case Stream stream: response.Send(stream); break;
            case FileInfo file: StaticFiles.Respond(ctx, file); break;
            default: response.Commit(new ResponseBody.Bytes(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(result, result.GetType())), "application/json; charset=utf-8"); break;
        }
    }

    /// <summary>Serves HTTP on <paramref name="session"/>, whose framing must be this server's (tests attach in-memory sessions).</summary>
    internal void Attach(Session session)
    {
        var decoder = (HttpRequestDecoder)((StreamSession)session).Decoder;
        var connection = new HttpConnection(this, session, decoder);
        _connections[connection] = 0;
        if (_stopping) connection.BeginShutdown();
    }

    internal void Forget(HttpConnection connection) => _connections.TryRemove(connection, out _);

    /// <summary>Raises the request, then routes it; on the connection's scheduler.</summary>
    internal void Dispatch(HttpContext ctx)
    {
        // The request's span is current while hooks and handlers run (their continuations keep it).
        var span = ctx.Span;
        Activity? previous = null;
        if (span is not null)
        {
            previous = Activity.Current;
            Activity.Current = span;
        }
        try
        {
            if (_requests.HasObservers) _requestsSync.OnNext(ctx);
            if (ctx.Response.HasStarted) return;
            var request = ctx.Request;
            if (request.Target == "*")
            {
                // OPTIONS * asks about the server as a whole.
                ctx.Response.Headers.Set("Allow", string.Join(", ", _router.AllMethods.Append("OPTIONS").Distinct()));
                ctx.Response.Send(200);
                return;
            }
            var (route, values, allowed) = _router.Match(request.Method, request.Path);
            if (route is not null)
            {
                ctx.SetRoute(route, values!);
                HttpTelemetry.Routed(ctx, route.Pattern);
            }
            if (!RunBeforeHooks(ctx, Volatile.Read(ref _hooks)) || (route is not null && !RunBeforeHooks(ctx, route.Hooks))) return;
            if (route is null)
            {
                if (allowed is { Count: > 0 })
                {
                    ctx.Response.Headers.Set("Allow", string.Join(", ", allowed));
                    ctx.Response.Send(405);
                }
                else ctx.Response.Send(404);
                return;
            }
            var pending = route.Handler(ctx);
            if (!pending.IsCompletedSuccessfully) _ = AwaitHandler(ctx, pending);
        }
        catch (Exception ex)
        {
            HandlerFailed(ctx, ex);
        }
        finally
        {
            if (span is not null) Activity.Current = previous;
        }
    }

    /// <summary>Runs <paramref name="hooks"/>' Before steps; false when one stopped the chain (its answer, or 403, was sent).</summary>
    private static bool RunBeforeHooks(HttpContext ctx, IHttpHook[] hooks)
    {
        foreach (var hook in hooks)
        {
            if (hook.Before(ctx)) continue;
            if (!ctx.Response.HasStarted) ctx.Response.Send(403);
            return false;
        }
        return true;
    }

    private async Task AwaitHandler(HttpContext ctx, ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            HandlerFailed(ctx, ex);
        }
    }

    private void HandlerFailed(HttpContext ctx, Exception ex)
    {
        if (ex is HttpRejectedException rejection)
        {
            // The client's input was refused while the handler read it (a multipart limit, a body too large): counted
            // as a refusal by reason, not as a handler fault.
            Asio2Log.HttpRequestRefused(Logger, ctx.Session, rejection.Reason, rejection.Message);
            HttpTelemetry.Rejected(ctx.Session, rejection.Reason);
            ctx.Response.TryCommitError(rejection.StatusCode);
            return;
        }
        int status = ex is FormatException && ctx.MatchedRoute is not null ? 400 : 500;
        Asio2Log.HttpHandlerFailed(Logger, ex, ctx.Session, ctx, status);
        HttpTelemetry.HandlerFault(ctx.Session);
        // When the response was committed before the failure, it goes out as committed.
        ctx.Response.TryCommitError(status);
    }

    /// <summary>Runs the After hooks of the route and the global ones; on the connection's scheduler.</summary>
    internal void RunAfterHooks(HttpContext ctx)
    {
        var route = ctx.MatchedRoute?.Hooks ?? [];
        var global = Volatile.Read(ref _hooks);
        if (route.Length == 0 && global.Length == 0) return;
        try
        {
            if (RunAfterHooks(ctx, route)) RunAfterHooks(ctx, global);
        }
        catch (Exception ex)
        {
            Asio2Log.HttpAfterHookFailed(Logger, ex, ctx.Session, ctx);
            ctx.Response.StatusCode = 500;
        }
    }

    /// <summary>Runs <paramref name="hooks"/>' After steps; false when one skipped the rest.</summary>
    private static bool RunAfterHooks(HttpContext ctx, IHttpHook[] hooks)
    {
        foreach (var hook in hooks)
            if (!hook.After(ctx)) return false;
        return true;
    }

    /// <summary>
    /// Stops gracefully: new connections are closed at once, idle ones now, busy ones after the responses to the
    /// requests they already received (with <c>Connection: close</c>), within <see cref="HttpServerOptions.ShutdownTimeout"/>;
    /// then the inner server stops (which closes what is left). Safe to call more than once.
    /// </summary>
    public Task StopAsync()
    {
        lock (_connections) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        _stopping = true;
        var closing = new List<Task>();
        foreach (var connection in _connections.Keys)
        {
            closing.Add(connection.Session.Closed.DefaultIfEmpty().ToTask());
            connection.BeginShutdown();
        }
        try
        {
            await Task.WhenAll(closing).WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Asio2Log.HttpShutdownTimeout(Logger, _options.ShutdownTimeout);
        }
        await _tcp.StopAsync().ConfigureAwait(false);
        _requests.OnCompleted();
    }

    /// <summary>Starts <see cref="StopAsync"/> and returns without waiting (await <see cref="DisposeAsync"/> to wait).</summary>
    public void Dispose() => _ = StopAsync();

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());
}
