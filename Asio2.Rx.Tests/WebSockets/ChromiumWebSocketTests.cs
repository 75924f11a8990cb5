using System.Reactive.Linq;
using System.Security.Cryptography;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>Headless Chromium opens a page served by the HTTP server; its script echoes text and binary over
/// <c>ws://</c> (or <c>wss://</c> from an HTTPS page) on the same port and reports the outcome to an HTTP route the
/// test awaits.</summary>
public class ChromiumWebSocketTests
{
    private const string Page = """
        <!doctype html><script>
        const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/echo`);
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

    /// <summary>Chromium's SPKI pin for the test server certificate: base64 of the SHA-256 of its SubjectPublicKeyInfo.</summary>
    private static string SpkiPin(TestPki pki) =>
        Convert.ToBase64String(SHA256.HashData(pki.Server.Certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    [PeerTheory("chromium")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chromium_EchoesTextAndBinary_OverWsAndWss(bool secure)
    {
        // HTTPS: the test certificate (issued by a root Chromium does not know) is trusted by its SPKI pin.
        await using var http = new HttpServer(new HttpServerOptions { Tls = secure ? TlsKit.ServerOptions() : null });
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
            string[] trust = secure ? [$"--ignore-certificate-errors-spki-list={SpkiPin(TlsKit.Pki)}"] : [];
            using var chromium = new PeerProcess("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}",
                .. trust, $"{(secure ? "https" : "http")}://{bound}/"]);
            var result = await results.First("the page's report");
            Assert.Equal("text:héllo from chromium|binary:1,2,250", result);
        }
        finally
        {
            try { profile.Delete(recursive: true); } catch (IOException) { }
        }
    }
}
