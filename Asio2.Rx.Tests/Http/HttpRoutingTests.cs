using System.Net.Http;
using System.Reactive.Linq;
using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>Routing: patterns, longest match, 404/405, hooks, handler shapes, Requests, defer from another thread.</summary>
public sealed class HttpRoutingTests
{
    private static readonly System.Net.Http.HttpClient s_client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(1) });

    private static async Task<(int Status, string Body, HttpResponseMessage Message)> Call(TestHttpServer server, string method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), server.Url + path);
        if (body is not null) request.Content = new StringContent(body);
        var response = await s_client.SendAsync(request).WaitAsync(Wait.Long);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    [Fact]
    public async Task Patterns_ExactParameterAndPrefix_LongestMatchWins()
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "*", _ => "root-wildcard");
            s.Map("GET", "/api/*", ctx => "api:" + ctx.RouteValues["*"]);
            s.Map("GET", "/api/users/*", ctx => "users-prefix:" + ctx.RouteValues["*"]);
            s.Map("GET", "/api/users/{id}", ctx => "user:" + ctx.Route<int>("id"));
            s.Map("GET", "/api/users/me", _ => "me");
        });
        Assert.Equal("me", (await Call(server, "GET", "/api/users/me")).Body);
        Assert.Equal("user:42", (await Call(server, "GET", "/api/users/42")).Body);
        Assert.Equal("users-prefix:42/posts", (await Call(server, "GET", "/api/users/42/posts")).Body);
        Assert.Equal("api:other/x", (await Call(server, "GET", "/api/other/x")).Body);
        Assert.Equal("root-wildcard", (await Call(server, "GET", "/elsewhere")).Body);
    }

    [Fact]
    public async Task NoRoute_Is404_WrongMethod_Is405WithAllow_BadTypedValue_Is400()
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/items/{id}", ctx => ctx.Route<int>("id").ToString());
            s.Map("DELETE", "/items/{id}", _ => "deleted");
        });
        Assert.Equal(404, (await Call(server, "GET", "/nothing")).Status);
        var (status, _, message) = await Call(server, "POST", "/items/1", "x");
        Assert.Equal(405, status);
        Assert.Equal(["DELETE", "GET", "HEAD"], message.Content.Headers.Allow.Order(StringComparer.Ordinal));
        Assert.Equal(400, (await Call(server, "GET", "/items/abc")).Status);
        Assert.Equal("7", (await Call(server, "GET", "/items/7")).Body);
    }

    [Fact]
    public async Task Hooks_GlobalAndPerRoute_BeforeCanShortCircuit_AfterCanChangeHeaders()
    {
        var order = new List<string>();
        var auth = HttpHook.Before(ctx =>
        {
            order.Add("auth");
            if (ctx.Request.Headers["Authorization"] == "Bearer ok") return true;
            ctx.Response.Send(401, "no");
            return false;
        });
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Use(HttpHook.Before(_ => { order.Add("global-before"); return true; }));
            s.Use(HttpHook.After(ctx => { order.Add("global-after"); ctx.Response.Headers.Set("X-After", "global"); }));
            s.Map("GET", "/secret", _ => { order.Add("handler"); return "secret"; }, auth, HttpHook.After(_ => order.Add("route-after")));
        });
        var denied = await Call(server, "GET", "/secret");
        Assert.Equal(401, denied.Status);
        // After hooks run for every committed response, a short-circuited one included.
        Assert.Equal(["global-before", "auth", "route-after", "global-after"], order);
        Assert.Equal("global", denied.Message.Headers.GetValues("X-After").Single());

        order.Clear();
        using var request = new HttpRequestMessage(HttpMethod.Get, server.Url + "/secret");
        request.Headers.Add("Authorization", "Bearer ok");
        var allowed = await s_client.SendAsync(request);
        Assert.Equal("secret", await allowed.Content.ReadAsStringAsync());
        Assert.Equal(["global-before", "auth", "handler", "route-after", "global-after"], order);
    }

    [Fact]
    public async Task HandlerShapes_ValueTaskObservableJsonAndDeferredFromAnotherThread()
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/value", _ => "value");
            s.Map("GET", "/task", async _ => { await Task.Yield(); return "task"; });
            s.Map("GET", "/observable", _ => Observable.Return("observable").Delay(TimeSpan.FromMilliseconds(1)));
            s.Map("GET", "/json", _ => new { name = "asio2", n = 2 });
            s.Map("GET", "/null", _ => (string?)null);
            s.Map("GET", "/defer", ctx => { ThreadPool.QueueUserWorkItem(_ => ctx.Response.Send("deferred")); });
            s.Map("POST", "/echo", async ctx => await ctx.Request.Body.ReadTextAsync());
        });
        Assert.Equal("value", (await Call(server, "GET", "/value")).Body);
        Assert.Equal("task", (await Call(server, "GET", "/task")).Body);
        Assert.Equal("observable", (await Call(server, "GET", "/observable")).Body);
        var json = await Call(server, "GET", "/json");
        Assert.Equal("{\"name\":\"asio2\",\"n\":2}", json.Body);
        Assert.Equal("application/json", json.Message.Content.Headers.ContentType!.MediaType);
        Assert.Equal(204, (await Call(server, "GET", "/null")).Status);
        Assert.Equal("deferred", (await Call(server, "GET", "/defer")).Body);
        Assert.Equal("posted body", (await Call(server, "POST", "/echo", "posted body")).Body);
    }

    [Fact]
    public async Task Requests_SeesEveryRequest_AndMayAnswerUnroutedOnes()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/routed", _ => "routed"));
        var seen = new List<string>();
        server.Server.Requests.Subscribe(ctx => { lock (seen) seen.Add(ctx.Request.Path); });
        server.Server.Requests.Where(ctx => ctx.Request.Path.StartsWith("/rx/")).Subscribe(ctx => ctx.Response.Send("rx " + ctx.Request.Query["q"]));
        Assert.Equal("routed", (await Call(server, "GET", "/routed")).Body);
        Assert.Equal("rx a b", (await Call(server, "GET", "/rx/x?q=a+b")).Body);
        Assert.Equal(404, (await Call(server, "GET", "/neither")).Status);
        Assert.Equal(["/routed", "/rx/x", "/neither"], seen);
    }

    [Fact]
    public async Task Request_ExposesDecodedPathQueryHeadersAndCookies()
    {
        HttpContext? captured = null;
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "*", ctx => { captured = ctx; return "ok"; }));
        using var request = new HttpRequestMessage(HttpMethod.Get, server.Url + "/a%20b/c?x=1&y=%C3%A9&x=2");
        request.Headers.Add("Cookie", "session=abc; theme=\"dark\"");
        await s_client.SendAsync(request);
        Assert.Equal("/a b/c", captured!.Request.Path);
        Assert.Equal("/a%20b/c", captured.Request.RawPath);
        Assert.Equal("2", captured.Request.Query["x"]);
        Assert.Equal("é", captured.Request.Query["y"]);
        Assert.Equal("abc", captured.Request.Cookies["session"]);
        Assert.Equal("dark", captured.Request.Cookies["theme"]);
        Assert.Equal($"127.0.0.1:{server.Port}", captured.Request.Host);
    }
}
