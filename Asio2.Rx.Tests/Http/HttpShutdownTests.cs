using System.Reactive.Linq;

namespace Asio2.Rx.Tests.Http;

/// <summary>Graceful stop past its drain: a request that never finishes is cut when the shutdown timeout ends, and idle
/// keep-alive connections are closed at once. (Finishing a request in flight is
/// <see cref="HttpProtocolTests.GracefulStop_FinishesTheRequestInFlight_ThenCloses"/>.)</summary>
public sealed class HttpShutdownTests
{
    [Fact]
    public async Task GracefulStop_PastTheShutdownTimeout_ClosesTheRequestThatNeverFinishes_AndIdleConnectionsAtOnce()
    {
        var started = new TaskCompletionSource<Session>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new TestHttpServer(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200), s =>
        {
            s.Map("GET", "/never", ctx => { started.TrySetResult(ctx.Session); }); // never answers
            s.Map("GET", "/quick", _ => "quick");
        });
        using var idle = await Wait.ConnectRaw(server.EndPoint);
        await idle.SendAsync("GET /quick HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
        Assert.Equal("quick", Assert.Single(await HttpKit.Read(idle, 1)).Text);
        using var busy = await Wait.ConnectRaw(server.EndPoint);
        await busy.SendAsync("GET /never HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
        var session = await started.Task.WaitAsync(Wait.Long);

        await server.Server.StopAsync().WaitAsync(Wait.Long);

        Assert.Empty(await HttpKit.ReadToEnd(idle)); // closed with nothing more to say
        Assert.Empty(await HttpKit.ReadToEnd(busy)); // no response ever came: the connection was cut
        var reason = await session.Closed.First("the busy connection's close");
        Assert.Contains(reason.Kind, new[] { CloseKind.Stopped, CloseKind.LocalAbort, CloseKind.LocalClose });
    }
}
