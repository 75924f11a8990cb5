using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>A body read whole with a size limit: past the limit the handler's read fails with the typed reason, the
/// client gets 413, the rest of the body is dropped as it arrives and the connection serves the next request.</summary>
public sealed class HttpRequestBodyTests
{
    [Fact]
    public async Task ReadAll_PastItsMaxBytes_Answers413_DropsTheRest_AndTheConnectionGoesOn()
    {
        var reasons = new System.Collections.Concurrent.ConcurrentQueue<HttpRejection>();
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("POST", "/small", async ctx =>
            {
                try { return (await ctx.Request.Body.ReadAllAsync(maxBytes: 1000)).Length.ToString(); }
                catch (HttpRejectedException e) { reasons.Enqueue(e.Reason); throw; }
            });
            s.Map("GET", "/after", _ => "after");
        });
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        // Far more than the 64 KiB the server holds unread: without the drop, reading would stay held and hang here.
        var body = new string('x', 1_000_000);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: {body.Length}\r\n\r\n{body}GET /after HTTP/1.1\r\nHost: a\r\n\r\n"));
        var responses = await HttpKit.Read(socket, 2);

        Assert.Equal(413, responses[0].Status);
        Assert.Equal([HttpRejection.BodyTooLarge], reasons);
        Assert.Equal("after", responses[1].Text);
    }
}
