using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Tests.Core;

/// <summary>session.Request (asio2's rdc): replies matched to requests by an id the application extracts.</summary>
public sealed class SessionRequestsTests
{
    // The line protocol: "id:payload". Static, so every request shares one matcher per session.
    private static readonly Func<Frame, string?> s_replyId = f => f.Text.Split(':')[0] is var id && id != "push" ? id : null;
    private static readonly Func<ReadOnlyMemory<byte>, string> s_requestId = p => Encoding.UTF8.GetString(p.Span).Split(':')[0];

    private static ReadOnlyMemory<byte> Line(string text) => Encoding.UTF8.GetBytes(text + "\n");

    /// <summary>A server that waits for three requests, then answers them in reverse order (upper-cased), after an unsolicited push.</summary>
    private static TcpServer ReversingServer()
    {
        var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.Subscribe(s => s.Frames.Select(f => f.Text).Buffer(3).Subscribe(lines =>
        {
            s.Send("push:hello\n");
            foreach (var line in lines.Reverse()) s.Send(line.ToUpperInvariant() + "\n");
        }));
        return server;
    }

    [Fact]
    public async Task Replies_InAnyOrder_ReachTheirRequests_AndEveryFrameStillReachesFrames()
    {
        await using var server = ReversingServer();
        var bound = server.Start("127.0.0.1", 0);
        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n'), Reconnect = { Enabled = false } });
        var allFrames = client.Frames.Select(f => f.Text).Take(4).ToList().ToTask();
        var session = await client.Connect(bound).First("the connection");

        var replies = new[] { "1:one", "2:two", "3:three" }
            .Select(r => session.Request(Line(r), s_requestId, s_replyId).Select(f => f.Text).ToTask())
            .ToArray();

        Assert.Equal(new[] { "1:ONE", "2:TWO", "3:THREE" }, await Task.WhenAll(replies).WaitAsync(Wait.Long));
        Assert.Equal(new[] { "push:hello", "3:THREE", "2:TWO", "1:ONE" }, await allFrames.WaitAsync(Wait.Long));
        Assert.Equal(0, SessionRequests.PendingCount(session, s_replyId));
    }

    [Fact]
    public async Task Unsubscribe_ForgetsTheRequest_AndClose_FailsThePendingOnesWithConnectionLost()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var serverSessions = server.Sessions.Replay();
        serverSessions.Connect();
        var bound = server.Start("127.0.0.1", 0);
        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n'), Reconnect = { Enabled = false } });
        var session = await client.Connect(bound).First("the connection");

        var abandoned = session.Request(Line("7:x"), s_requestId, s_replyId).Subscribe(_ => { });
        Assert.Equal(1, SessionRequests.PendingCount(session, s_replyId));
        abandoned.Dispose();
        Assert.Equal(0, SessionRequests.PendingCount(session, s_replyId));

        var pending = session.Request(Line("8:y"), s_requestId, s_replyId).ToTask();
        (await serverSessions.First("the server session")).Abort();

        var error = await Assert.ThrowsAsync<RpcException>(() => pending.WaitAsync(Wait.Long));
        Assert.Equal(RpcErrorKind.ConnectionLost, error.Kind);
        Assert.Equal(0, SessionRequests.PendingCount(session, s_replyId));
    }

    [Fact]
    public async Task Udp_RequestsAreMatchedToo()
    {
        await using var server = new UdpServer();
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => s.Send(Encoding.UTF8.GetBytes(f.Text.Trim() + "!"))));
        var bound = server.Start("127.0.0.1", 0);
        await using var client = new UdpClient();
        var session = await client.Connect(bound).First("the UDP session");

        var reply = await session.Request(Encoding.UTF8.GetBytes("42:ping"), s_requestId, s_replyId).First("the reply");

        Assert.Equal("42:ping!", reply.Text);
    }
}
