using System.Net.Sockets;
using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using Xunit;

namespace Asio2.Rx.Tests.Core;

/// <summary><c>Sessions.SelectMany(s =&gt; s.Frames)</c>: serialized by the loop when every session runs on one, by Rx's
/// lock otherwise; Rx's contract either way.</summary>
public class SessionSelectManyTests
{
    // ---- Real servers on loopback -------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_one_loop_server_delivers_every_frame_and_the_completion_on_the_loop_one_at_a_time_in_order(bool halfMovedOffTheLoop)
    {
        using var pool = new SchedulerPool(1);
        var loop = pool.SingleLoop!;
        using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Schedulers = pool });
        int subscribed = 0;
        var frames = server.Sessions.SelectMany(s =>
            halfMovedOffTheLoop && Interlocked.Increment(ref subscribed) % 2 == 0 ? s.Frames.ObserveOn(ThreadPoolScheduler.Instance) : s.Frames);
        Assert.True(frames is LoopMerge, "merged by the loop");

        var probe = new Probe(Clients * Lines);
        var completed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        frames.Subscribe(f => probe.OnFrame(f, loop.IsCurrent), () => completed.SetResult(probe.Count == Clients * Lines && loop.IsCurrent));
        await SendLines(server.Start("127.0.0.1", 0), probe);

        probe.AssertEveryFrameOnce_InSessionOrder_NeverConcurrently();
        Assert.Equal(0, probe.OffLoop);
        await server.StopAsync().WaitAsync(Wait.Long);
        Assert.True(await completed.Task.WaitAsync(Wait.Long), "completed after every frame, on the loop");
    }

    [Fact]
    public async Task A_server_with_several_loops_uses_Rx_SelectMany_which_still_serializes()
    {
        using var pool = new SchedulerPool(2);
        using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Schedulers = pool });
        var frames = server.Sessions.SelectMany(s => s.Frames);
        Assert.IsNotType<LoopMerge>(frames);

        var probe = new Probe(Clients * Lines);
        var completed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        frames.Subscribe(f => probe.OnFrame(f, onLoop: true), () => completed.SetResult(probe.Count));
        await SendLines(server.Start("127.0.0.1", 0), probe);

        probe.AssertEveryFrameOnce_InSessionOrder_NeverConcurrently();
        await server.StopAsync().WaitAsync(Wait.Long);
        Assert.Equal(Clients * Lines, await completed.Task.WaitAsync(Wait.Long));
    }

    [Fact]
    public void Sessions_wrapped_by_an_operator_or_pinned_to_given_schedulers_use_Rx_SelectMany()
    {
        using var loopPool = new SchedulerPool(1);
        using var oneLoop = new TcpServer(new TcpServerOptions { Schedulers = loopPool });
        Assert.IsNotType<LoopMerge>(oneLoop.Sessions.Where(_ => true).SelectMany(s => s.Frames));

        using var eventLoop = new EventLoopScheduler();
        using var given = new TcpServer(new TcpServerOptions { Schedulers = new SchedulerPool(eventLoop) });
        Assert.IsNotType<LoopMerge>(given.Sessions.SelectMany(s => s.Frames));
    }

    [Fact]
    public async Task A_WebSocket_servers_sessions_merge_on_the_loop_of_its_HTTP_connections()
    {
        using var pool = new SchedulerPool(1);
        var loop = pool.SingleLoop!;
        await using var server = new WebSocketServer(new WebSocketServerOptions { Http = { Schedulers = pool } });
        var frames = server.Sessions.SelectMany(s => s.Frames);
        Assert.True(frames is LoopMerge, "merged by the loop");
        frames.Subscribe(f => f.Session.Send(loop.IsCurrent ? "on the loop: " + f.Text : "elsewhere"));
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new WebSocketClient(new WebSocketClientOptions { Reconnect = { Enabled = false } });
        var echo = client.Frames.First("the echo");
        await client.Connect($"ws://127.0.0.1:{bound.Port}/").Timeout(Wait.Long);
        _ = client.Send("hi");
        Assert.Equal("on the loop: hi", (await echo).Text);
    }

    private const int Clients = 8;
    private const int Lines = 300;

    /// <summary>Each client sends lines "client:index" in one burst; waits until the probe saw them all.</summary>
    private static async Task SendLines(System.Net.IPEndPoint server, Probe probe)
    {
        var peers = await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => Wait.ConnectRaw(server)));
        try
        {
            await Task.WhenAll(peers.Select((peer, c) =>
            {
                var text = string.Concat(Enumerable.Range(0, Lines).Select(i => $"{c}:{i}\n"));
                return peer.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None);
            })).WaitAsync(Wait.Long);
            await probe.All.WaitAsync(Wait.Long);
        }
        finally
        {
            foreach (var peer in peers) peer.Dispose();
        }
    }

    /// <summary>A handler that records what it saw, and whether a call ever overlapped another.</summary>
    private sealed class Probe(int expected)
    {
        private readonly Dictionary<int, List<int>> _byClient = [];
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inside;
        private int _overlaps;
        private int _offLoop;
        private int _count;

        public Task All => _all.Task;

        public int Count => Volatile.Read(ref _count);

        public int OffLoop => Volatile.Read(ref _offLoop);

        public void OnFrame(Frame frame, bool onLoop)
        {
            if (Interlocked.Increment(ref _inside) != 1) Interlocked.Increment(ref _overlaps);
            if (!onLoop) Interlocked.Increment(ref _offLoop);
            var parts = frame.Text.Split(':');
            // Unlocked on purpose: calls are serialized, and an overlap is counted above.
            if (!_byClient.TryGetValue(int.Parse(parts[0]), out var seen)) _byClient[int.Parse(parts[0])] = seen = [];
            seen.Add(int.Parse(parts[1]));
            Interlocked.Decrement(ref _inside);
            if (Interlocked.Increment(ref _count) == expected) _all.SetResult();
        }

        public void AssertEveryFrameOnce_InSessionOrder_NeverConcurrently()
        {
            Assert.Equal(0, Volatile.Read(ref _overlaps));
            Assert.Equal(Clients, _byClient.Count);
            foreach (var seen in _byClient.Values) Assert.Equal(Enumerable.Range(0, Lines), seen);
        }
    }

    // ---- The operator on a real loop, driven notification by notification ---------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Completes_on_the_loop_only_after_the_sessions_stream_and_every_inner_stream_completed(bool eventLoop)
    {
        using var f = new Fixture(eventLoop);
        var seen = f.Subscribe();
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        f.Sessions.OnNext(f.B); // as the accept thread does
        await f.OnLoop(() => f.Inners[0].OnNext(f.FrameOf(f.A, "a")));
        f.Inners[1].OnNext(f.FrameOf(f.B, "b"));
        f.Sessions.OnCompleted(); // as the stopping thread does
        await f.OnLoop(() => { });
        Assert.Equal(["a", "b"], seen.Items);

        await f.OnLoop(() => f.Inners[0].OnCompleted());
        Assert.Equal(["a", "b"], seen.Items);
        f.Inners[1].OnCompleted();
        Assert.Equal("completed", await seen.Ended.WaitAsync(Wait.Long));
        Assert.Equal(["a", "b", "completed"], seen.Items);
        Assert.True(seen.AllOnLoop);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Frames_raised_on_the_loop_wait_behind_frames_queued_from_another_thread(bool eventLoop)
    {
        using var f = new Fixture(eventLoop);
        var seen = f.Subscribe();
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        await f.OnLoop(() =>
        {
            // Inside this work item the thread pool raises frame 1: it queues for the loop. Frame 2, raised on the loop
            // right after, must not overtake it.
            Task.Run(() => f.Inners[0].OnNext(f.FrameOf(f.A, "1"))).Wait();
            f.Inners[0].OnNext(f.FrameOf(f.A, "2"));
            Assert.Empty(seen.Items);
        });
        await f.OnLoop(() => f.Inners[0].OnNext(f.FrameOf(f.A, "3")));
        Assert.Equal(["1", "2", "3"], seen.Items);
        Assert.True(seen.AllOnLoop);
    }

    [Theory]
    [InlineData("selector throws")]
    [InlineData("selector returns null")]
    [InlineData("inner subscribe throws")]
    [InlineData("inner errors")]
    [InlineData("sessions error")]
    public async Task The_first_error_goes_downstream_once_and_unsubscribes_everything(string failing)
    {
        var first = new InvalidOperationException("first");
        using var f = new Fixture(eventLoop: false, third: failing switch
        {
            "selector throws" => () => throw first,
            "selector returns null" => () => null!,
            "inner subscribe throws" => () => new SubscribeThrows(first),
            _ => null,
        });
        var seen = f.Subscribe();
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        f.Sessions.OnNext(f.B);
        f.Sessions.OnNext(f.A); // the selector's third call
        if (failing == "inner errors") f.Inners[2].OnError(first);
        if (failing == "sessions error") f.Sessions.OnError(first);
        f.Inners[0].OnError(new InvalidOperationException("second")); // queued behind the first, never delivered
        string ended = await seen.Ended.WaitAsync(Wait.Long);
        await f.OnLoop(() => { });

        Assert.Equal(failing == "selector returns null" ? "error: The SelectMany selector returned null." : "error: first", ended);
        Assert.Equal([ended], seen.Items);
        Assert.True(seen.AllOnLoop);
        Assert.False(f.Sessions.HasObservers);
        Assert.False(f.Inners[1].HasObservers);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_frame_raised_off_the_loop_after_it_was_disposed_unsubscribes_everything_without_a_throw(bool eventLoop)
    {
        using var f = new Fixture(eventLoop);
        var seen = f.Subscribe();
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        f.DisposeLoop();
        f.Inners[0].OnNext(f.FrameOf(f.A, "late")); // would queue for the loop, which is gone
        Assert.False(f.Sessions.HasObservers);
        Assert.False(f.Inners[0].HasObservers);
        Assert.Empty(seen.Items);
    }

    [Fact]
    public async Task Disposing_unsubscribes_the_sessions_stream_and_every_inner_stream()
    {
        using var f = new Fixture(eventLoop: false);
        var seen = f.Subscribe();
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        f.Sessions.OnNext(f.B);
        Assert.True(f.Sessions.HasObservers && f.Inners[0].HasObservers && f.Inners[1].HasObservers);

        seen.Subscription!.Dispose();
        Assert.False(f.Sessions.HasObservers);
        Assert.False(f.Inners[0].HasObservers);
        Assert.False(f.Inners[1].HasObservers);
    }

    [Fact]
    public async Task A_handler_that_throws_on_a_queued_frame_closes_that_frames_session_only()
    {
        using var f = new Fixture(eventLoop: false);
        var delivered = new List<string>();
        using var subscription = f.Sessions.SelectMany(f.Select).Subscribe(Observer.Create<Frame>(frame =>
        {
            if (frame.Text == "boom") throw new InvalidOperationException("handler");
            delivered.Add(frame.Text);
        }));
        await f.OnLoop(() => f.Sessions.OnNext(f.A));
        f.Sessions.OnNext(f.B);
        f.Inners[0].OnNext(f.FrameOf(f.A, "boom")); // from this thread: queued, delivered by the loop
        f.Inners[1].OnNext(f.FrameOf(f.B, "fine"));

        Assert.Equal(CloseKind.UserCodeFault, (await f.A.Closed.First("A closed")).Kind);
        await f.OnLoop(() => { });
        Assert.Equal(["fine"], delivered);
        Assert.True(f.B.IsOpen);
    }

    [Fact]
    public async Task An_end_handler_that_throws_on_the_loop_is_logged_not_thrown_there()
    {
        using var f = new Fixture(eventLoop: false);
        using var subscription = f.Sessions.SelectMany(f.Select)
            .Subscribe(Observer.Create<Frame>(_ => { }, () => throw new InvalidOperationException("on completion")));
        f.Sessions.OnCompleted(); // from this thread: delivered by the loop
        await f.OnLoop(() => { });
        Assert.Equal("on completion", Assert.Single(f.TerminalFailures).Message);
    }

    /// <summary>A <c>Sessions</c> stream on one real loop, two sessions (of separate in-memory pairs), and the inner
    /// streams the selector hands out, one per call.</summary>
    private sealed class Fixture : IDisposable
    {
        private readonly LoopThread _loop;
        private readonly InMemoryPair[] _pairs;
        private readonly Func<IObservable<Frame>>? _third;
        private int _calls;

        /// <param name="eventLoop">Rx's EventLoopScheduler, else what the platform's pool uses (a SocketLoop here).</param>
        /// <param name="third">What the selector does on its third call, instead of handing out the third inner stream.</param>
        public Fixture(bool eventLoop, Func<IObservable<Frame>>? third = null)
        {
            _loop = eventLoop ? LoopThread.CreateEventLoop("test loop") : LoopThread.Create("test loop");
            _third = third;
            var immediate = new SessionOptions { Schedulers = new SchedulerPool(ImmediateScheduler.Instance) };
            _pairs = [InMemory.CreatePair(immediate, immediate), InMemory.CreatePair(immediate, immediate)];
            Sessions = new LoopSessions(_loop, TerminalFailures);
        }

        public LoopSessions Sessions { get; }

        public Subject<Frame>[] Inners { get; } = [new(), new(), new()];

        public List<Exception> TerminalFailures { get; } = [];

        public Session A => _pairs[0].A;

        public Session B => _pairs[1].A;

        public IObservable<Frame> Select(Session session)
        {
            int call = _calls++;
            return call == 2 && _third is { } third ? third() : Inners[call];
        }

        public Frame FrameOf(Session session, string text) => new(session, Encoding.UTF8.GetBytes(text));

        public Recorder Subscribe()
        {
            var merged = Sessions.SelectMany(Select);
            Assert.True(merged is LoopMerge, "merged by the loop");
            var recorder = new Recorder(_loop);
            recorder.Subscription = merged.Subscribe(recorder);
            return recorder;
        }

        /// <summary>Runs <paramref name="action"/> on the loop, after everything scheduled there before.</summary>
        public Task OnLoop(Action action)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _loop.Scheduler.Schedule(() =>
            {
                try
                {
                    action();
                    done.SetResult();
                }
                catch (Exception ex)
                {
                    done.SetException(ex);
                }
            });
            return done.Task.WaitAsync(Wait.Long);
        }

        public void DisposeLoop() => ((IDisposable)_loop.Scheduler).Dispose();

        public void Dispose()
        {
            foreach (var pair in _pairs)
            {
                pair.A.Abort();
                pair.B.Abort();
            }
            DisposeLoop();
        }
    }

    /// <summary>An inner stream whose Subscribe throws (Rx's own observables would turn that into OnError themselves).</summary>
    private sealed class SubscribeThrows(Exception error) : IObservable<Frame>
    {
        public IDisposable Subscribe(IObserver<Frame> observer) => throw error;
    }

    private sealed class LoopSessions(LoopThread loop, List<Exception> terminalFailures) : IObservable<Session>, ILoopSessions
    {
        private readonly Subject<Session> _subject = new();

        public LoopThread? SingleLoop => loop;

        public bool HasObservers => _subject.HasObservers;

        public void TerminalFailed(Exception error, bool onError) => terminalFailures.Add(error);

        public void OnNext(Session value) => _subject.OnNext(value);

        public void OnError(Exception error) => _subject.OnError(error);

        public void OnCompleted() => _subject.OnCompleted();

        public IDisposable Subscribe(IObserver<Session> observer) => _subject.Subscribe(observer);
    }

    /// <summary>Records what arrives downstream, and whether every call was made on the loop.</summary>
    private sealed class Recorder(LoopThread loop) : IObserver<Frame>
    {
        private readonly List<string> _items = [];
        private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _allOnLoop = true;

        public IDisposable? Subscription { get; set; }

        public string[] Items
        {
            get { lock (_items) return [.. _items]; }
        }

        public bool AllOnLoop
        {
            get { lock (_items) return _allOnLoop; }
        }

        public Task<string> Ended => _ended.Task;

        public void OnNext(Frame value) => Add(value.Text);

        public void OnError(Exception error) => End("error: " + error.Message);

        public void OnCompleted() => End("completed");

        private void End(string how)
        {
            Add(how);
            _ended.TrySetResult(how);
        }

        private void Add(string item)
        {
            lock (_items)
            {
                _items.Add(item);
                _allOnLoop &= loop.IsCurrent;
            }
        }
    }
}
