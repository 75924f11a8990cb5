using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Core;

/// <summary>Read credit (HoldReading) on the stream read path, in virtual time over an in-memory pair: the same loop,
/// hops and inline delivery production runs.</summary>
public class ReadCreditTests
{
    private static (InMemoryPair Pair, TestScheduler Scheduler) NewPair()
    {
        var scheduler = new TestScheduler();
        var options = new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) };
        return (InMemory.CreatePair(options), scheduler);
    }

    [Fact]
    public void HoldTakenInAHandler_StopsDeliveryAfterThatFrame_AndNoReceiveIsIssuedUntilReleased()
    {
        var (pair, scheduler) = NewPair();
        var got = new List<string>();
        IDisposable? hold = null;
        pair.B.Frames.Subscribe(f =>
        {
            got.Add(f.Text);
            if (f.Text == "a") hold = f.Session.HoldReading();
        });
        pair.Start();

        pair.A.Send("a\nb\nc\n");
        scheduler.AdvanceBy(1); // one read takes all three frames; the hold stops delivery after "a"
        Assert.Equal(["a"], got);
        Assert.Equal(6, pair.B.BytesReceived);
        Assert.Equal(6, pair.B.PendingReceiveBytes); // "b" and "c" wait with the read they came in

        pair.A.Send("d\n");
        scheduler.AdvanceBy(100);
        Assert.Equal(["a"], got);
        Assert.Equal(6, pair.B.BytesReceived); // held: "d" stays in the transport

        hold!.Dispose();
        scheduler.AdvanceBy(1); // the release resumes delivery, then the loop reads "d" in the same turn
        Assert.Equal(["a", "b", "c", "d"], got);
        Assert.Equal(8, pair.B.BytesReceived);
        Assert.Equal(0, pair.B.PendingReceiveBytes);
    }

    [Fact]
    public void Holds_AreCounted_ReadingResumesWithTheLastOne_AndDisposingTwiceIsHarmless()
    {
        var (pair, scheduler) = NewPair();
        var got = new List<string>();
        pair.B.Frames.Subscribe(f => got.Add(f.Text));
        pair.Start();
        var first = pair.B.HoldReading();
        var second = pair.B.HoldReading();

        pair.A.Send("x\n");
        scheduler.AdvanceBy(10);
        Assert.Empty(got);

        first.Dispose();
        first.Dispose(); // harmless: it must not release the second hold
        scheduler.AdvanceBy(10);
        Assert.Empty(got);
        Assert.Equal(0, pair.B.BytesReceived);

        second.Dispose();
        scheduler.AdvanceBy(1);
        Assert.Equal(["x"], got);
    }

    [Fact]
    public void IdleSession_HoldsNoReceiveBuffer()
    {
        var (pair, scheduler) = NewPair();
        var b = (StreamSession)pair.B;
        pair.Start();
        scheduler.AdvanceBy(1);
        Assert.False(b.HasReceiveBuffer); // waiting with a zero-byte read

        pair.A.Send("partial");
        scheduler.AdvanceBy(1);
        Assert.True(b.HasReceiveBuffer); // an incomplete frame keeps it

        pair.A.Send(" line\n");
        scheduler.AdvanceBy(1);
        Assert.False(b.HasReceiveBuffer); // everything framed: returned to the pool
        Assert.Equal(13, b.BytesReceived);
    }

    [Theory]
    [InlineData(1024, 64 * 1024)]      // doubles while reads fill it, up to 64 KiB
    [InlineData(128 * 1024, 128 * 1024)] // larger than that to begin with: kept as it is
    public void ReadsThatFillTheBuffer_GrowIt_UpToTheCap_AndAnIdleSessionStartsAgainFromReceiveBufferSize(int initial, int cap)
    {
        var scheduler = new TestScheduler();
        var options = new SessionOptions { Framing = Framing.Delimiter('\n'), ReceiveBufferSize = initial, Schedulers = new SchedulerPool(scheduler) };
        var pair = InMemory.CreatePair(options);
        var lines = new List<string>();
        var lengths = new List<int>(); // the receive buffer's length when each frame was delivered
        pair.B.Frames.Subscribe(f =>
        {
            lines.Add(f.Text);
            lengths.Add(((StreamSession)f.Session).ReceiveBufferLength);
        });
        pair.Start();

        var line = new string('x', 99);
        var burst = new StringBuilder();
        for (int i = 0; i < 4000; i++) burst.Append(line).Append('\n'); // 400 000 bytes at once
        pair.A.Send(burst.ToString());
        scheduler.AdvanceBy(1000);

        Assert.Equal(4000, lines.Count);
        Assert.All(lines, l => Assert.Equal(line, l));
        Assert.Equal(initial, lengths[0]);
        Assert.Equal(cap, lengths.Max());
        Assert.Equal(cap, lengths[^1]); // still filling at the end: it stays grown
        Assert.Equal(lengths.Order(), lengths); // it only grew during the burst
        Assert.False(((StreamSession)pair.B).HasReceiveBuffer); // drained: returned

        pair.A.Send("after\n");
        scheduler.AdvanceBy(10);
        Assert.Equal(("after", initial), (lines[^1], lengths[^1])); // the next burst starts small again
    }

    [Fact]
    public async Task SelectAsync_HoldsEachSessionsReading_WhileItsStepRuns_AndKeepsOrder()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var steps = new List<(string Line, TaskCompletionSource<string> Done)>();
        var unfinishedAtStart = new List<int>();
        var started = new System.Reactive.Subjects.ReplaySubject<string>();
        var results = server.Sessions
            .SelectMany(s => s.Frames)
            .SelectAsync((f, _) =>
            {
                var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (steps)
                {
                    // The session held reading while earlier steps ran: none may still be running now.
                    unfinishedAtStart.Add(steps.Count(s => !s.Done.Task.IsCompleted));
                    steps.Add((f.Text, done));
                }
                started.OnNext(f.Text);
                return done.Task;
            })
            .Replay();
        using var connect = results.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);

        await socket.SendAsync(Encoding.ASCII.GetBytes("1\n2\n3\n")); // one read, three frames
        for (int i = 0; i < 3; i++)
        {
            (string line, TaskCompletionSource<string> done) step;
            await started.Skip(i).First($"step {i + 1}");
            lock (steps) step = steps[i];
            step.done.SetResult($"done {step.line}");
        }
        Assert.Equal(["done 1", "done 2", "done 3"], await results.Take(3).ToList().ToTask().WaitAsync(Wait.Long));
        lock (steps) Assert.Equal([0, 0, 0], unfinishedAtStart);
    }

    [Fact]
    public async Task SelectAsync_AStepThatFaults_ClosesOnlyItsSessionWithUserCodeFault()
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var closes = server.Sessions.SelectMany(s => s.Closed).Replay();
        using var connect = closes.Connect();
        var results = server.Sessions.SelectMany(s => s.Frames)
            .SelectAsync(async (f, _) =>
            {
                await Task.Yield();
                if (f.Text == "bad") throw new InvalidOperationException("step failed");
                return f.Text;
            })
            .Replay();
        using var connectResults = results.Connect();
        var endPoint = server.Start("127.0.0.1", 0);
        using var bad = await Wait.ConnectRaw(endPoint);
        using var good = await Wait.ConnectRaw(endPoint);

        await bad.SendAsync(Encoding.ASCII.GetBytes("bad\n"));
        var reason = await closes.First("the faulting session's close");
        await good.SendAsync(Encoding.ASCII.GetBytes("good\n"));

        Assert.Equal(CloseKind.UserCodeFault, reason.Kind);
        Assert.Equal("good", await results.First("the other session's result"));
    }
}
