using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Xunit;

namespace Asio2.Rx.Tests.Core;

/// <summary>The pool's loop thread (<see cref="SocketLoop"/>): a scheduler with EventLoopScheduler's contract, which
/// also completes its sessions' socket receives itself.</summary>
public class SocketLoopTests
{
    private static SocketLoop NewLoop() => SocketLoop.TryCreate("test loop") ?? throw new InvalidOperationException("no SocketLoop here");

    [SocketLoopFact]
    public async Task Work_runs_in_order_on_the_loop_thread_whoever_schedules_it()
    {
        using var loop = NewLoop();
        var seen = new List<(int Item, int Thread, bool OnLoop)>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int count = 1000;
        // Half from this thread, half from the loop itself (work scheduled by work), interleaved by the order of scheduling.
        for (int i = 0; i < count; i += 2)
        {
            int item = i;
            loop.Schedule(() =>
            {
                seen.Add((item, Environment.CurrentManagedThreadId, loop.IsCurrent));
                loop.Schedule(() =>
                {
                    seen.Add((item + 1, Environment.CurrentManagedThreadId, loop.IsCurrent));
                    if (item + 1 == count - 1) done.SetResult();
                });
            });
        }
        await done.Task.WaitAsync(Wait.Long);
        Assert.Equal(count, seen.Count);
        Assert.All(seen, s => Assert.True(s.OnLoop));
        Assert.Single(seen.Select(s => s.Thread).Distinct());
        Assert.False(loop.IsCurrent);
        // Each item's follow-up runs after it; items scheduled from outside keep their order.
        var outside = seen.Where(s => s.Item % 2 == 0).Select(s => s.Item).ToList();
        Assert.Equal(Enumerable.Range(0, count / 2).Select(i => 2 * i), outside);
        foreach (var (item, _, _) in seen.Where(s => s.Item % 2 == 1))
            Assert.True(seen.FindIndex(s => s.Item == item - 1) < seen.FindIndex(s => s.Item == item));
    }

    [SocketLoopFact]
    public async Task Timed_work_runs_in_due_order_and_disposed_work_never_runs()
    {
        using var loop = NewLoop();
        var order = new List<string>();
        var last = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Schedule(TimeSpan.FromMilliseconds(300), () =>
        {
            order.Add("300 ms");
            last.SetResult();
        });
        loop.Schedule(TimeSpan.FromMilliseconds(100), () => order.Add("100 ms"));
        var canceled = loop.Schedule(TimeSpan.FromMilliseconds(50), () => order.Add("canceled"));
        loop.Schedule(() => order.Add("now"));
        canceled.Dispose();
        await last.Task.WaitAsync(Wait.Long);
        Assert.Equal(["now", "100 ms", "300 ms"], order);
    }

    [SocketLoopFact]
    public void Work_scheduled_after_dispose_is_refused()
    {
        var loop = NewLoop();
        loop.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loop.Schedule(() => { }));
    }

    [SocketLoopFact]
    public void The_pool_is_made_of_socket_loops_here()
    {
        using var pool = new SchedulerPool(2);
        Assert.IsType<SocketLoop>(pool.Next());
        Assert.IsType<SocketLoop>(pool.Next());
    }

    [SocketLoopFact]
    public async Task A_TcpServer_session_receives_and_delivers_on_its_loop_thread()
    {
        using var pool = new SchedulerPool(1);
        var loop = (SocketLoop)pool.Next();
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram(), Schedulers = pool });
        int offLoop = 0;
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            if (!loop.IsCurrent) Interlocked.Increment(ref offLoop);
            f.Session.Send(f.Data);
        }));
        var bound = server.Start("127.0.0.1", 0);
        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Datagram() });
        var echoes = client.Frames.Take(2000).Select(f => BitConverter.ToInt32(f.Data.Span)).ToList().First("2000 echoes");
        await client.Connect("127.0.0.1", bound.Port);
        for (int i = 0; i < 2000; i++) _ = client.Send(BitConverter.GetBytes(i));
        Assert.Equal(Enumerable.Range(0, 2000), await echoes);
        Assert.Equal(0, offLoop);
    }
}
