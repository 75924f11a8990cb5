using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>Keep-alive, pipelining, chunked both ways, 100-continue, HEAD, HTTP/1.0, errors and shutdown, over raw sockets.</summary>
public sealed class HttpProtocolTests
{
    private static async Task<Socket> Connect(TestHttpServer server) => await Wait.ConnectRaw(server.EndPoint);

    private static Task Send(Socket socket, string text) => socket.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None);

    [Fact]
    public async Task KeepAlive_ServesManyRequestsOnOneConnection_WithDateAndServer()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/n/{i}", ctx => "n" + ctx.Route<int>("i")));
        using var socket = await Connect(server);
        for (int i = 0; i < 3; i++)
        {
            await Send(socket, $"GET /n/{i} HTTP/1.1\r\nHost: a\r\n\r\n");
            var r = Assert.Single(await HttpKit.Read(socket, 1));
            Assert.Equal(200, r.Status);
            Assert.Equal("n" + i, r.Text);
            Assert.Null(r.Header("Connection"));
            Assert.Equal("Asio2.Rx", r.Header("Server"));
            Assert.True(DateTimeOffset.TryParse(r.Header("Date"), out _));
            Assert.Equal("text/plain; charset=utf-8", r.Header("Content-Type"));
        }
    }

    [Fact]
    public async Task Pipelining_HandlersFinishingInReverseOrder_StillAnswerInRequestOrder()
    {
        var gates = Enumerable.Range(0, 5).Select(_ => new TaskCompletionSource()).ToArray();
        var arrived = new ReplaySubject<int>();
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/{i}", async ctx =>
        {
            int i = ctx.Route<int>("i");
            arrived.OnNext(i);
            await gates[i].Task;
            return "r" + i;
        }));
        using var socket = await Connect(server);
        await Send(socket, string.Concat(Enumerable.Range(0, 5).Select(i => $"GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n")));
        await arrived.Take(5).ToList().First("all five handlers started");
        for (int i = 4; i >= 0; i--) gates[i].SetResult(); // the last request finishes first
        var responses = await HttpKit.Read(socket, 5);
        Assert.Equal(["r0", "r1", "r2", "r3", "r4"], responses.Select(r => r.Text));
    }

    [Fact]
    public async Task ChunkedRequest_IsDecoded_AndChunkedResponse_IsEncoded()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/echo", ctx =>
            ctx.Response.SendChunks(ctx.Request.Body.Chunks.Select(c => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(c.Span).ToUpperInvariant())))));
        using var socket = await Connect(server);
        await Send(socket, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: ignored\r\n\r\n");
        var r = Assert.Single(await HttpKit.Read(socket, 1));
        Assert.Equal("chunked", r.Header("Transfer-Encoding"));
        Assert.Equal("HELLO WORLD", r.Text);
        // The connection goes on after the trailers.
        await Send(socket, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok");
        Assert.Equal("OK", Assert.Single(await HttpKit.Read(socket, 1)).Text);
    }

    [Fact]
    public async Task ExpectContinue_Sends100WhenTheHandlerReadsTheBody()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("PUT", "/up", async ctx => (await ctx.Request.Body.ReadAllAsync()).Length.ToString()));
        using var socket = await Connect(server);
        await Send(socket, "PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        var interim = await Wait.ReadExactly(socket, "HTTP/1.1 100 Continue\r\n\r\n".Length);
        Assert.Equal("HTTP/1.1 100 Continue\r\n\r\n", Encoding.ASCII.GetString(interim));
        await Send(socket, "data");
        Assert.Equal("4", Assert.Single(await HttpKit.Read(socket, 1)).Text);
    }

    [Fact]
    public async Task ExpectContinue_AnsweredWithoutReadingTheBody_SendsNo100_AndCloses()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("PUT", "/up", ctx => { ctx.Response.Send(401); }));
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, "PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        Assert.True(closed);
        Assert.Equal(401, Assert.Single(responses).Status);
    }

    [Fact]
    public async Task Head_SendsTheGetHeaders_WithoutABody()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/x", ctx => "twelve bytes"));
        using var socket = await Connect(server);
        await Send(socket, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        // Parsing exactly two responses proves the HEAD response carried no body bytes.
        var responses = HttpKit.Parse(await HttpKit.ReadToEnd(socket), headResponses: 1);
        Assert.Equal(2, responses.Count);
        Assert.Equal("12", responses[0].Header("Content-Length"));
        Assert.Empty(responses[0].Body);
        Assert.Equal("twelve bytes", responses[1].Text);
    }

    [Fact]
    public async Task Http10_ClosesByDefault_AndKeepsAliveWhenAsked()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/", ctx => "hi"));
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, "GET / HTTP/1.0\r\n\r\n");
        Assert.True(closed);
        Assert.Equal("HTTP/1.0", responses[0].Version);
        Assert.Equal("close", responses[0].Header("Connection"));

        using var socket = await Connect(server);
        await Send(socket, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        var r = Assert.Single(await HttpKit.Read(socket, 1));
        Assert.Equal("keep-alive", r.Header("Connection"));
        await Send(socket, "GET / HTTP/1.0\r\n\r\n");
        Assert.Equal("hi", HttpKit.Parse(await HttpKit.ReadToEnd(socket)).Single().Text);
    }

    [Fact]
    public async Task Http10_StreamOfUnknownLength_IsCloseDelimited_NotChunked()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/", ctx => ctx.Response.SendChunks(new[] { "a", "b" }.Select(x => (ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes(x)).ToObservable())));
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        Assert.True(closed);
        Assert.Null(responses[0].Header("Transfer-Encoding"));
        Assert.Equal("ab", responses[0].Text);
    }

    [Fact]
    public async Task ConnectionClose_IsHonoured()
    {
        await using var server = new TestHttpServer();
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        Assert.True(closed);
        Assert.Equal("close", Assert.Single(responses).Header("Connection"));
    }

    [Fact]
    public async Task ThrowingHandler_Gets500_AndTheConnectionStaysUsable()
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/boom", new Func<HttpContext, string>(_ => throw new InvalidOperationException("boom")));
            s.Map("GET", "/fine", _ => "fine");
        });
        using var socket = await Connect(server);
        await Send(socket, "GET /boom HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(500, Assert.Single(await HttpKit.Read(socket, 1)).Status);
        await Send(socket, "GET /fine HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal("fine", Assert.Single(await HttpKit.Read(socket, 1)).Text);
    }

    [Fact]
    public async Task ClientDisconnectingMidBody_EndsTheBodyWithTheCloseReason()
    {
        var failure = new TaskCompletionSource<Exception>();
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/up", async ctx =>
        {
            try { await ctx.Request.Body.ReadAllAsync(); }
            catch (Exception ex) { failure.TrySetResult(ex); }
        }));
        using (var socket = await Connect(server))
        {
            await Send(socket, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a part");
        }
        var error = await failure.Task.WaitAsync(Wait.Long);
        var closed = Assert.IsType<SessionClosedException>(error);
        Assert.Contains(closed.Reason.Kind, new[] { CloseKind.RemoteClose, CloseKind.Reset });
    }

    [Fact]
    public async Task OptionsAsterisk_ListsTheServersMethods()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET,POST", "/a", _ => "a"));
        var r = (await HttpKit.Exchange(server.EndPoint, "OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).Responses.Single();
        Assert.Equal(200, r.Status);
        Assert.Equal("GET, POST, OPTIONS", r.Header("Allow"));
    }

    [Fact]
    public async Task GracefulStop_FinishesTheRequestInFlight_ThenCloses()
    {
        var gate = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var server = new TestHttpServer(routes: s => s.Map("GET", "/slow", async ctx => { started.SetResult(); await gate.Task; return "done"; }));
        using var socket = await Connect(server);
        await Send(socket, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
        await started.Task.WaitAsync(Wait.Long);
        var stopping = server.Server.StopAsync();
        Assert.False(stopping.IsCompleted);
        gate.SetResult();
        var r = Assert.Single(HttpKit.Parse(await HttpKit.ReadToEnd(socket)));
        Assert.Equal("done", r.Text);
        Assert.Equal("close", r.Header("Connection"));
        await stopping.WaitAsync(Wait.Long);
    }
}
