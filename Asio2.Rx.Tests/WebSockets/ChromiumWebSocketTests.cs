using System.Reactive.Linq;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>Headless Chromium opens a page served by the HTTP server; its script echoes text and binary over
/// <c>ws://</c> on the same port and reports the outcome to an HTTP route the test awaits.</summary>
public class ChromiumWebSocketTests
{
    private const string Page = """
        <!doctype html><script>
        const ws = new WebSocket(`ws://${location.host}/echo`);
        ws.binaryType = 'arraybuffer';
        const got = [];
        ws.onopen = () => { ws.send('héllo from chromium'); ws.send(new Uint8Array([1, 2, 250])); };
        ws.onmessage = e => {
          got.push(typeof e.data === 'string' ? 'text:' + e.data : 'binary:' + Array.from(new Uint8Array(e.data)).join(','));
          if (got.length === 2) fetch('/result?r=' + encodeURIComponent(got.join('|')));
        };
        ws.onerror = () => fetch('/result?r=error');
        </script>
        """;

    [PeerFact("chromium")]
    public async Task Chromium_EchoesTextAndBinary_OverWs()
    {
        await using var http = new HttpServer();
        http.Map("GET", "/", ctx =>
        {
            ctx.Response.Headers.Set("Content-Type", "text/html; charset=utf-8");
            ctx.Response.Send(Page);
        });
        var results = http.Requests.Where(c => c.Request.Path == "/result").Select(c => c.Request.Query["r"]).Replay();
        using var keep = results.Connect();
        http.Map("GET", "/result", ctx => ctx.Response.Send(204));
        var echo = http.MapWebSocket("/echo");
        echo.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data.Span, f.Kind)));
        var bound = http.Start("127.0.0.1", 0);

        var profile = Directory.CreateTempSubdirectory("asio2rx-chromium-");
        try
        {
            using var chromium = new PeerProcess("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}",
                $"http://{bound}/");
            var result = await results.First("the page's report");
            Assert.Equal("text:héllo from chromium|binary:1,2,250", result);
        }
        finally
        {
            try { profile.Delete(recursive: true); } catch (IOException) { }
        }
    }
}
