namespace Asio2.Rx.Tests.Http;

/// <summary>Headless Chromium loads a page with a script and an image from the static file server; the script fetches a
/// JSON route and writes the result into the DOM, which the test reads back.</summary>
public sealed class HttpChromiumTests : IDisposable
{
    // A 1x1 PNG.
    private static readonly byte[] s_png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("asio2rx-chromium-");

    public void Dispose() => _dir.Delete(recursive: true);

    [PeerFact("chromium")]
    public async Task PageWithScriptAndImage_LoadsAndFetchesJson()
    {
        var site = Directory.CreateDirectory(Path.Combine(_dir.FullName, "site")).FullName;
        File.WriteAllText(Path.Combine(site, "index.html"),
            "<!doctype html><html><head><script src=\"app.js\"></script></head>" +
            "<body><img id=\"logo\" src=\"logo.png\"><p id=\"out\">pending</p><p id=\"img\">no image</p></body></html>");
        File.WriteAllText(Path.Combine(site, "app.js"), """
            window.addEventListener('DOMContentLoaded', () => {
              const img = document.getElementById('logo');
              const shown = () => document.getElementById('img').textContent = 'image ' + img.naturalWidth + 'x' + img.naturalHeight;
              if (img.complete) shown(); else img.addEventListener('load', shown);
              fetch('/api/greeting?name=chromium')
                .then(r => r.json())
                .then(j => document.getElementById('out').textContent = 'json ' + j.greeting + ' #' + j.count);
            });
            """);
        File.WriteAllBytes(Path.Combine(site, "logo.png"), s_png);

        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/api/greeting", ctx => new { greeting = "hello " + ctx.Request.Query["name"], count = 3 });
            s.MapFiles("/", site);
        });
        var profile = Directory.CreateDirectory(Path.Combine(_dir.FullName, "profile")).FullName;
        var r = await PeerProcess.Run("chromium",
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=10000",
            "--dump-dom", server.Url + "/",
        ], TimeSpan.FromSeconds(90));
        Assert.Contains("<p id=\"out\">json hello chromium #3</p>", r.Text);
        Assert.Contains("<p id=\"img\">image 1x1</p>", r.Text);
    }
}
