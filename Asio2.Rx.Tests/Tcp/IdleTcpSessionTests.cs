using System.Reactive.Concurrency;
using System.Reactive.Linq;

namespace Asio2.Rx.Tests.Tcp;

/// <summary>Idle TCP sessions on the pool's socket loop hold no receive buffer: they wait with a zero-byte receive.</summary>
public class IdleTcpSessionTests
{
    /// <summary>Runs <paramref name="check"/> on the session's loop after <paramref name="hops"/> turns of it, so that
    /// whatever the loop had queued for the session (its first receive) has run.</summary>
    private static Task<T> OnLoopAfter<T>(Session session, int hops, Func<T> check)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Hop(int left) => session.Scheduler.Schedule(() =>
        {
            if (left > 0) Hop(left - 1);
            else done.SetResult(check());
        });
        Hop(hops);
        return done.Task.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task AConnectionThatNeverSends_HoldsNoReceiveBuffer_AndOneThatWentQuietReturnsIt()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var sessions = server.Sessions.Replay();
        using var _ = sessions.Connect();
        var frames = sessions.SelectMany(s => s.Frames).Replay();
        using var __ = frames.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        var session = (StreamSession)await sessions.First("the session");

        // Its first receive began off the loop: it must wait for data without a buffer, not take one and wait.
        Assert.False(await OnLoopAfter(session, 3, () => session.HasReceiveBuffer));

        await socket.SendAsync("partial"u8.ToArray());
        await socket.SendAsync(" line\n"u8.ToArray());
        Assert.Equal("partial line", (await frames.First("the line")).Text);
        Assert.False(await OnLoopAfter(session, 3, () => session.HasReceiveBuffer)); // framed, quiet: returned
    }
}
