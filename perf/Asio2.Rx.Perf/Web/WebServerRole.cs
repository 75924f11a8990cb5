using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using AspNetHttpContext = Microsoft.AspNetCore.Http.HttpContext;

using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Web;

/// <summary>
/// The server under test of <c>http-plaintext</c> and <c>ws-echo</c>, in its own (pinned) process: <c>--impl asio2rx</c>
/// or <c>--impl kestrel</c>, serving <c>--app plaintext</c> (GET /plaintext answers "Hello, World!" as text, each server's
/// idiom: a route returning the string) or <c>--app ws</c> (a WebSocket echo on /ws). Prints <c>PORT n</c>; answers
/// <c>mark</c> with a <see cref="ProcessMark"/> line; exits when stdin closes.
/// </summary>
internal static class WebServerRole
{
    public const string PlaintextBody = "Hello, World!";

    public static async Task<int> RunAsync(PerfArgs args)
    {
        string impl = args.String("impl", "asio2rx");
        string app = args.String("app", "plaintext");
        var (server, port) = (impl, app) switch
        {
            ("asio2rx", "plaintext") => StartAsio2RxPlaintext(),
            ("asio2rx", "ws") => StartAsio2RxWebSocketEcho(),
            ("kestrel", _) => await StartKestrelAsync(app).ConfigureAwait(false),
            _ => throw new ArgumentException($"unknown --impl '{impl}' / --app '{app}'"),
        };
        Console.WriteLine($"PORT {port} impl={impl} app={app} gc={(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} " +
                          $"latency={System.Runtime.GCSettings.LatencyMode} cpus={Environment.ProcessorCount}");
        while (await ParentCommands.ReadAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "mark") Console.WriteLine(ProcessMark.Take().ToLine());
        }
        await server.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>The README idiom: a route whose handler returns the text.</summary>
    private static (IAsyncDisposable, int) StartAsio2RxPlaintext()
    {
        var http = new HttpServer();
        http.Map("GET", "/plaintext", _ => PlaintextBody);
        return (http, http.Start("127.0.0.1", 0).Port);
    }

    /// <summary>Echo with one subscription per session (a merged SelectMany would serialise all sessions under one lock).</summary>
    private static (IAsyncDisposable, int) StartAsio2RxWebSocketEcho()
    {
        var ws = new WebSocketServer(path: "/ws");
        ws.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data.Span, f.Kind)));
        return (ws, ws.Start("127.0.0.1", 0).Port);
    }

    /// <summary>
    /// Kestrel with ASP.NET Core's minimal hosting, logging off: plaintext is TechEmpower's minimal-API endpoint
    /// (<c>MapGet</c> returning the string); ws is ASP.NET Core's documented echo (<c>UseWebSockets</c>, then a
    /// <c>ReceiveAsync</c>/<c>SendAsync</c> loop on the accepted <see cref="WebSocket"/>).
    /// </summary>
    private static async Task<(IAsyncDisposable, int)> StartKestrelAsync(string app)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var web = builder.Build();
        if (app == "plaintext")
        {
            web.MapGet("/plaintext", () => Results.Text(PlaintextBody));
        }
        else if (app == "ws")
        {
            web.UseWebSockets();
            web.Map("/ws", (RequestDelegate)EchoAsync);
        }
        else
        {
            throw new ArgumentException($"unknown --app '{app}'");
        }
        await web.StartAsync().ConfigureAwait(false);
        string address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (web, new Uri(address).Port);
    }

    private static async Task EchoAsync(AspNetHttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var ws = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var buffer = new byte[16 * 1024]; // the same receive buffer size as the Asio2.Rx default
        try
        {
            while (true)
            {
                var received = await ws.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                await ws.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
            // the load generator went away
        }
    }
}
