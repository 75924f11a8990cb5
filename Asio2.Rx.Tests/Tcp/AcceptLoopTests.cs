using System.Net.Sockets;
using System.Reactive;
using System.Reactive.Linq;

namespace Asio2.Rx.Tests.Tcp;

/// <summary>
/// The accept loop under resource exhaustion (issue 8, item 3). The failures are injected through the loop's accept
/// seam (lowering RLIMIT_NOFILE would starve every test running in this process); the loop, its back-off and the real
/// listener around it are the production ones.
/// </summary>
public class AcceptLoopTests
{
    [Fact]
    public async Task OutOfDescriptors_TheLoopBacksOff_AndAcceptsTheWaitingConnectionWhenDescriptorsFreeUp()
    {
        await using var server = new TcpServer();
        int failuresLeft = 3;
        server.AcceptOne = (listener, ct) => Interlocked.Decrement(ref failuresLeft) >= 0
            ? ValueTask.FromException<Socket>(new SocketException((int)SocketError.TooManyOpenSockets))
            : listener.AcceptAsync(ct);
        var events = server.Sessions.Materialize().Replay();
        events.Connect();
        var endPoint = server.Start("127.0.0.1", 0);

        using var peer = await Wait.ConnectRaw(endPoint); // queued by the kernel while the process is "full"

        var first = await events.First("the session, or the end of Sessions");
        Assert.Equal(NotificationKind.OnNext, first.Kind);
        Assert.Equal(3, server.AcceptFailures);
    }

    [Fact]
    public async Task ListenerGone_SessionsErrors_ASubscriberWithoutOnErrorDoesNotThrow_AndStopCompletes()
    {
        var server = new TcpServer();
        server.AcceptOne = (_, _) => ValueTask.FromException<Socket>(new SocketException((int)SocketError.NotSocket));
        server.Sessions.Subscribe(_ => { }); // the README's style: no onError
        var end = server.Sessions.Materialize().Where(n => n.Kind != NotificationKind.OnNext).First("Sessions to end");

        server.Start("127.0.0.1", 0);

        var notification = await end;
        Assert.Equal(NotificationKind.OnError, notification.Kind);
        Assert.IsType<SocketException>(notification.Exception);
        await server.StopAsync().WaitAsync(Wait.Long); // completes, does not rethrow the listener's failure
    }
}
