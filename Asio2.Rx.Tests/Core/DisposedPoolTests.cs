using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.Core;

/// <summary>A pool disposed under live sessions (a test or host tearing down out of order) must not take the process
/// down: the sessions still close and complete their streams, off the dead loop.</summary>
public class DisposedPoolTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ASessionWhosePoolWasDisposed_StillClosesAndCompletesItsStreams(bool graceful)
    {
        var pool = new SchedulerPool(1);
        await using var server = new TcpServer(new TcpServerOptions { Schedulers = pool });
        var sessions = server.Sessions.Replay();
        using var _ = sessions.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        var session = await sessions.First("the session");
        var frames = session.Frames.LastOrDefaultAsync().ToTask();

        pool.Dispose();
        if (graceful) session.Close();
        else session.Abort();

        var reason = await session.Closed.First("the close");
        Assert.Equal(graceful ? CloseKind.LocalClose : CloseKind.LocalAbort, reason.Kind);
        await frames.WaitAsync(Wait.Long); // Frames completed
    }
}
