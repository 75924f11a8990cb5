using System.Diagnostics;
using System.Net.Http;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>asio2's HTTP server example: a static file site and a small JSON API behind an auth before-hook, called
/// with the Rx client and, when it is installed, with curl.</summary>
internal sealed class HttpSample : ISample
{
    public string Name => "http";
    public string Description => "HTTP server: static files, a JSON API with routes and an auth hook; Rx client and curl";
    public int Order => 85;

    public async Task RunAsync(string[] args)
    {
        // A site to serve: index.html and a stylesheet in a temporary folder.
        var site = Directory.CreateTempSubdirectory("asio2rx-site-");
        try
        {
            File.WriteAllText(Path.Combine(site.FullName, "index.html"), "<!doctype html><link rel=stylesheet href=site.css><h1>Asio2.Rx</h1>");
            File.WriteAllText(Path.Combine(site.FullName, "site.css"), "h1 { color: teal }");

            await using var server = new HttpServer();
            var todos = new List<string> { "read RFC 9112" };
            // The JSON API: a before-hook (asio2's aop) checks the token and answers 401 itself when it is wrong.
            var auth = HttpHook.Before(ctx =>
            {
                if (ctx.Request.Headers["Authorization"] == "Bearer demo") return true;
                ctx.Response.Send(401, "token required");
                return false;
            });
            server.Map("GET", "/api/todos", _ => todos.ToArray(), auth);
            server.Map("GET", "/api/todos/{id}", ctx => todos[ctx.Route<int>("id")], auth);
            server.Map("POST", "/api/todos", async ctx =>
            {
                var text = await ctx.Request.Body.ReadTextAsync(maxBytes: 1024);
                lock (todos) todos.Add(text);
                ctx.Response.StatusCode = 201;
                return new { id = todos.Count - 1, text };
            }, auth);
            server.MapFiles("/", site.FullName);
            server.Requests.Subscribe(ctx => Console.WriteLine($"server: {ctx.Request.Method} {ctx.Request.Target}"));
            var bound = server.Start("127.0.0.1", 0);
            var url = $"http://127.0.0.1:{bound.Port}";
            Console.WriteLine($"server: listening on {url}");

            // Client: cold observables over HttpClient; Timeout composes.
            var client = RxHttpClient.Shared;
            Console.WriteLine("client: " + await client.Get(url + "/").Timeout(TimeSpan.FromSeconds(5)));
            try { await client.Get(url + "/api/todos").ToTask(); }
            catch (HttpRequestException ex) { Console.WriteLine($"client: without a token: {(int?)ex.StatusCode}"); }
            var created = await client.Send(() => new HttpRequestMessage(HttpMethod.Post, url + "/api/todos")
            {
                Headers = { { "Authorization", "Bearer demo" } },
                Content = new StringContent("ship the HTTP layer"),
            }).SelectMany(r => r.Content.ReadAsStringAsync()).Timeout(TimeSpan.FromSeconds(5));
            Console.WriteLine("client: created " + created);

            if (FindCurl() is { } curl)
            {
                var run = Process.Start(new ProcessStartInfo(curl, ["-sS", "-H", "Authorization: Bearer demo", url + "/api/todos"]) { RedirectStandardOutput = true })!;
                Console.WriteLine("curl: " + await run.StandardOutput.ReadToEndAsync());
                await run.WaitForExitAsync();
            }
            else Console.WriteLine("curl: not installed, skipped");
        }
        finally
        {
            site.Delete(recursive: true);
        }
    }

    private static string? FindCurl() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "curl")).FirstOrDefault(File.Exists);
}
