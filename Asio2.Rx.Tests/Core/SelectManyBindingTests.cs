using System.Reactive.Linq;
using Asio2.Rx;
using Asio2.Rx.Tests;
using Xunit;

// Outside the Asio2.Rx namespace on purpose: inside it, the library's extension methods are found before any using
// directive's, so only code placed like a user's proves which SelectMany the README line binds to.
namespace Asio2RxUserCode;

/// <summary>The README's <c>server.Sessions.SelectMany(s =&gt; s.Frames)</c>, written as a user writes it (both
/// <c>using Asio2.Rx;</c> and <c>using System.Reactive.Linq;</c>), binds to the library's overload.</summary>
public class SelectManyBindingTests
{
    [Fact]
    public async Task The_README_line_binds_to_the_library_overload_and_serializes_on_a_one_loop_server()
    {
        using var pool = new SchedulerPool(1);
        using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Schedulers = pool });
        var frames = server.Sessions.SelectMany(s => s.Frames);
        Assert.True(frames is LoopMerge, "merged by the loop");

        var echoed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        frames.Subscribe(f => echoed.TrySetResult(f.Text));
        var bound = server.Start("127.0.0.1", 0);
        using var peer = await Wait.ConnectRaw(bound);
        await peer.SendAsync("hello\n"u8.ToArray());
        Assert.Equal("hello", await echoed.Task.WaitAsync(Wait.Long));
    }
}
