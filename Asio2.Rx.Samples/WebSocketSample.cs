using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>A chat room: one HTTP port serves the browser page and the WebSocket route that broadcasts every message.</summary>
internal sealed class WebSocketSample : ISample
{
    public string Name => "websocket";
    public string Description => "chat server (HTTP page + WebSocket broadcast on one port) and two WebSocket clients";
    public int Order => 95;

    /// <summary>The browser page: open http://127.0.0.1:&lt;port&gt;/ while the server runs (argument "serve").</summary>
    private const string Page = """
        <!doctype html><meta charset="utf-8"><title>Asio2.Rx chat</title>
        <ul id="log"></ul><input id="text" autofocus placeholder="say something, press Enter">
        <script>
          const ws = new WebSocket(`ws://${location.host}/chat`);
          ws.onmessage = e => { const li = document.createElement('li'); li.textContent = e.data; log.append(li); };
          text.onkeydown = e => { if (e.key === 'Enter') { ws.send(text.value); text.value = ''; } };
        </script>
        """;

    public async Task RunAsync(string[] args)
    {
        await using var http = new HttpServer();
        http.Map("GET", "/", ctx =>
        {
            ctx.Response.Headers.Set("Content-Type", "text/html; charset=utf-8");
            ctx.Response.Send(Page);
        });
        var chat = http.MapWebSocket("/chat");
        // Every text message of every session goes to everybody, prefixed with who said it.
        chat.Sessions.SelectMany(s => s.Frames).Where(f => f.Kind == FrameKind.Text)
            .Subscribe(f => chat.Broadcast($"#{f.Session.Id}: {f.Text}"));
        var bound = http.Start("127.0.0.1", args.Contains("serve") ? 8080 : 0);
        Console.WriteLine($"chat: open http://{bound}/ in a browser");
        if (args.Contains("serve"))
        {
            Console.WriteLine("press Enter to stop");
            Console.ReadLine();
            await chat.StopAsync();
            return;
        }

        var once = new WebSocketClientOptions { Reconnect = { Enabled = false } };
        await using var ann = new WebSocketClient(once);
        await using var bob = new WebSocketClient(once);
        var bothJoined = chat.Sessions.Take(2).ToList().ToTask(); // the server announces a session after its 101
        var bobHears = bob.Frames.Select(f => f.Text).Take(2).Do(t => Console.WriteLine($"bob hears {t}")).ToList().ToTask();
        var bobHeardAnn = bob.Frames.FirstAsync().ToTask();
        await ann.Connect($"ws://{bound}/chat").Timeout(TimeSpan.FromSeconds(5));
        await bob.Connect($"ws://{bound}/chat").Timeout(TimeSpan.FromSeconds(5));
        await bothJoined.WaitAsync(TimeSpan.FromSeconds(5)); // so bob is in the room when ann speaks
        await ann.Send("hello, bob");
        await bobHeardAnn.WaitAsync(TimeSpan.FromSeconds(5)); // bob answers once he heard ann: one order of lines
        await bob.Send("hi ann");
        await bobHears.WaitAsync(TimeSpan.FromSeconds(5));
        var bobClosed = bob.Disconnects.FirstAsync().ToTask();
        await chat.StopAsync(); // every session gets 1001 (going away)
        Console.WriteLine($"chat: bob's connection closed: {await bobClosed.WaitAsync(TimeSpan.FromSeconds(5))}");
    }
}
