using System.Net.Sockets;
using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>The upgrade hand-over the WebSocket layer builds on: the response head it asked for, then the raw
/// connection with the bytes already read, and no HTTP parser after.</summary>
public sealed class HttpUpgradeTests
{
    private static void MapUpperEcho(HttpServer server) => server.MapUpgrade("/upper", async ctx =>
    {
        if (ctx.Request.Headers["Upgrade"] != "upper")
        {
            ctx.Response.Send(400, "only upper");
            return;
        }
        ctx.Response.Headers.Set("Upgrade", "upper");
        ctx.Response.Headers.Set("X-Accepted", "yes");
        var connection = await ctx.AcceptUpgradeAsync();
        await using var stream = connection.Stream;
        var pending = Encoding.ASCII.GetString(connection.Buffered.Span);
        var buffer = new byte[256];
        // Echo upper-cased until the '.' that ends the input (the early bytes' "HTTP/1.1" has one too): the buffered
        // bytes first, then the stream.
        while (!pending.EndsWith('.'))
        {
            int n = await stream.ReadAsync(buffer);
            if (n == 0) return;
            pending += Encoding.ASCII.GetString(buffer, 0, n);
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes(pending.ToUpperInvariant()));
    });

    [Fact]
    public async Task AcceptedUpgrade_Writes101WithTheGivenHeaders_ThenHandsOverTheConnectionWithBufferedBytes()
    {
        await using var server = new TestHttpServer(routes: MapUpperEcho);
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        // "GET / ...\r\n\r\n" inside the early bytes proves no HTTP parser reads after the upgrade.
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "GET /upper HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: upper\r\n\r\nearly GET / HTTP/1.1\r\n\r\n"), SocketFlags.None);
        await socket.SendAsync(Encoding.ASCII.GetBytes("late."), SocketFlags.None);
        var text = Encoding.ASCII.GetString(await HttpKit.ReadToEnd(socket));
        Assert.StartsWith("HTTP/1.1 101 Switching Protocols\r\n", text);
        var head = text[..(text.IndexOf("\r\n\r\n") + 4)];
        Assert.Contains("Connection: Upgrade\r\n", head);
        Assert.Contains("Upgrade: upper\r\n", head);
        Assert.Contains("X-Accepted: yes\r\n", head);
        Assert.DoesNotContain("Content-Length", head);
        Assert.Equal("EARLY GET / HTTP/1.1\r\n\r\nLATE.", text[head.Length..]);
    }

    [Fact]
    public async Task DeclinedUpgrade_IsAnOrdinaryResponse_ThenTheConnectionCloses()
    {
        await using var server = new TestHttpServer(routes: MapUpperEcho);
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, "GET /upper HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: lower\r\n\r\n");
        Assert.True(closed);
        var r = Assert.Single(responses);
        Assert.Equal(400, r.Status);
        Assert.Equal("close", r.Header("Connection"));
    }

    [Fact]
    public async Task UpgradeRoute_WithoutAnUpgrade_Is426()
    {
        await using var server = new TestHttpServer(routes: MapUpperEcho);
        var (responses, _) = await HttpKit.Exchange(server.EndPoint, "GET /upper HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        Assert.Equal(426, Assert.Single(responses).Status);
    }

    [Fact]
    public async Task Upgrade_AfterPipelinedRequests_WaitsForTheirResponses()
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/slow", async _ => { await Task.Yield(); return "first"; });
            MapUpperEcho(s);
        });
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /upper HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: upper\r\n\r\nx."), SocketFlags.None);
        var text = Encoding.ASCII.GetString(await HttpKit.ReadToEnd(socket));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
        int second = text.IndexOf("HTTP/1.1 101 ");
        Assert.True(second > 0);
        Assert.EndsWith("\r\n\r\nX.", text);
    }
}
