using System.Buffers;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using MessagePack;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>Timeouts, cancellation, cleanup and streams over an in-memory pair on a TestScheduler.</summary>
public sealed class RpcVirtualTimeTests
{
    private const long Second = TimeSpan.TicksPerSecond;

    /// <summary>A callee (session A) serving <paramref name="bind"/> and a caller (session B), both on one TestScheduler.</summary>
    private static (RpcPeer Caller, RpcPeer Callee, InMemoryPair Pair, TestScheduler Scheduler) NewPair(
        Action<RpcBindings, TestScheduler> bind, RpcOptions? options = null, RpcProtocol protocol = RpcProtocol.MessagePackRpc)
    {
        var scheduler = new TestScheduler();
        options ??= new RpcOptions();
        options.Protocol = protocol;
        var framing = protocol == RpcProtocol.Asio2 ? Framing.Datagram() : Framing.MessagePackObject();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = framing, Schedulers = new SchedulerPool(scheduler) });
        var callee = new RpcBindings(options);
        bind(callee, scheduler);
        var calleePeer = callee.Attach(pair.A);
        var callerPeer = new RpcBindings(options).Attach(pair.B);
        pair.Start();
        return (callerPeer, calleePeer, pair, scheduler);
    }

    /// <summary>A handler that never answers and records its cancellation.</summary>
    private sealed class Hang
    {
        public int Cancelled;
        public Task<int> Run(CancellationToken ct)
        {
            var never = new TaskCompletionSource<int>();
            ct.Register(() => { Interlocked.Increment(ref Cancelled); never.TrySetCanceled(); });
            return never.Task;
        }
    }

    [Theory]
    [InlineData(RpcProtocol.MessagePackRpc)]
    [InlineData(RpcProtocol.Asio2)]
    public void DefaultTimeout_FailsTheCallOnTheScheduler_AndForgetsIt(RpcProtocol protocol)
    {
        var hang = new Hang();
        var (caller, _, _, scheduler) = NewPair((b, _) => b.Bind("hang", hang.Run), new RpcOptions { DefaultTimeout = TimeSpan.FromSeconds(5) }, protocol);
        var observer = scheduler.CreateObserver<int>();

        caller.Call<int>("hang").Subscribe(observer);
        scheduler.AdvanceTo(5 * Second - 1);
        Assert.Empty(observer.Messages);
        Assert.Equal(1, caller.PendingCalls);
        scheduler.AdvanceTo(5 * Second + 10);

        var error = Assert.IsType<RpcException>(Assert.Single(observer.Messages).Value.Exception);
        Assert.Equal(RpcErrorKind.Timeout, error.Kind);
        Assert.Equal(0, caller.PendingCalls);
        // MessagePack-RPC tells the callee ($/cancel); asio2's wire has no cancel, as in asio2.
        Assert.Equal(protocol == RpcProtocol.MessagePackRpc ? 1 : 0, hang.Cancelled);
    }

    [Fact]
    public void TimeoutOperator_Unsubscribes_ForgetsTheCallAtOnce_AndCancelsTheHandler()
    {
        var hang = new Hang();
        var (caller, callee, _, scheduler) = NewPair((b, _) => b.Bind("hang", hang.Run), new RpcOptions { DefaultTimeout = null });
        var observer = scheduler.CreateObserver<int>();

        caller.Call<int>("hang").Timeout(TimeSpan.FromSeconds(1), scheduler).Subscribe(observer);
        scheduler.AdvanceTo(Second / 2);
        Assert.Equal(1, caller.PendingCalls);
        Assert.Equal(1, callee.RunningCalls);
        scheduler.AdvanceTo(Second);

        Assert.IsType<TimeoutException>(Assert.Single(observer.Messages).Value.Exception);
        Assert.Equal(0, caller.PendingCalls); // at once, not when a response comes
        scheduler.AdvanceTo(Second + 10);
        Assert.Equal(1, hang.Cancelled);
        Assert.Equal(0, callee.RunningCalls);
    }

    [Fact]
    public void Disconnect_FailsEveryPendingCallOnce_WithConnectionLost_AndLaterCallsAtOnce()
    {
        var hang = new Hang();
        var (caller, callee, pair, scheduler) = NewPair((b, _) => b.Bind("hang", hang.Run), new RpcOptions { DefaultTimeout = null });
        var observers = Enumerable.Range(0, 3).Select(_ => scheduler.CreateObserver<int>()).ToList();
        foreach (var o in observers) caller.Call<int>("hang").Subscribe(o);
        scheduler.AdvanceTo(10);
        Assert.Equal(3, caller.PendingCalls);

        pair.A.Abort();
        scheduler.AdvanceTo(100);

        foreach (var o in observers)
            Assert.Equal(RpcErrorKind.ConnectionLost, Assert.IsType<RpcException>(Assert.Single(o.Messages).Value.Exception).Kind);
        Assert.Equal(0, caller.PendingCalls);
        Assert.Equal(3, hang.Cancelled); // the callee's handlers see the connection end
        Assert.Equal(0, callee.RunningCalls);
        var late = scheduler.CreateObserver<int>();
        caller.Call<int>("hang").Subscribe(late);
        Assert.Equal(RpcErrorKind.ConnectionLost, Assert.IsType<RpcException>(Assert.Single(late.Messages).Value.Exception).Kind);
    }

    [Fact]
    public void MaxConcurrentCalls_ParksFurtherRequests_ThenHoldsReading_UntilARunningCallFinishes()
    {
        var gates = new List<TaskCompletionSource<int>>();
        var (caller, callee, _, scheduler) = NewPair((b, _) => b.Bind("slow", () =>
        {
            var gate = new TaskCompletionSource<int>(); // continuations run inline on SetResult: no thread pool in virtual time
            gates.Add(gate);
            return gate.Task;
        }), new RpcOptions { MaxConcurrentCalls = 2, DefaultTimeout = null });
        var observers = Enumerable.Range(0, 5).Select(_ => scheduler.CreateObserver<int>()).ToList();
        foreach (var o in observers) caller.Call<int>("slow").Subscribe(o);
        scheduler.AdvanceTo(100);
        Assert.Equal(2, callee.RunningCalls);
        Assert.Equal(2, gates.Count);
        Assert.True(callee.Session.IsReadingHeld); // two running, two parked: the fifth request stays unread

        gates[0].SetResult(7);
        scheduler.AdvanceTo(200);

        Assert.Equal(7, observers[0].Messages[0].Value.Value);
        Assert.Equal(3, gates.Count); // the third request ran once a slot was free
        Assert.Equal(2, callee.RunningCalls);
        Assert.True(callee.Session.IsReadingHeld); // the fifth was read and parked: two parked again

        gates[1].SetResult(1);
        gates[2].SetResult(2);
        scheduler.AdvanceTo(300);
        Assert.Equal(5, gates.Count);
        Assert.False(callee.Session.IsReadingHeld);
    }

    [Fact]
    public void OutOfOrderResponses_AreMatchedToTheirCalls()
    {
        var (caller, _, _, scheduler) = NewPair((b, s) => b.Bind("after", (int seconds) => Observable.Timer(TimeSpan.FromSeconds(seconds), s).Select(_ => seconds * 10)));
        var observers = new[] { 3, 1, 2 }.Select(n => (n, o: scheduler.CreateObserver<int>())).ToList();
        foreach (var (n, o) in observers) caller.Call<int>("after", n).Subscribe(o);

        scheduler.AdvanceTo(4 * Second);

        foreach (var (n, o) in observers)
        {
            Assert.Equal(n * 10, o.Messages[0].Value.Value);
            Assert.InRange(o.Messages[0].Time, n * Second, n * Second + 10);
        }
    }

    [Fact]
    public void Stream_DeliversEveryItem_ThenStopsTheProducerWhenTheCallerUnsubscribes()
    {
        int subscribed = 0, stopped = 0;
        var (caller, callee, _, scheduler) = NewPair((b, s) => b.Bind("ticks", () => Observable.Defer(() =>
        {
            subscribed++;
            return Observable.Interval(TimeSpan.FromSeconds(1), s).Finally(() => stopped++);
        })));
        var observer = scheduler.CreateObserver<long>();

        caller.Stream<long>("ticks").Take(3).Subscribe(observer);
        scheduler.AdvanceTo(3 * Second + 10);

        Assert.Equal(new long[] { 0, 1, 2 }, observer.Messages.Where(m => m.Value.HasValue).Select(m => m.Value.Value));
        scheduler.AdvanceTo(10 * Second);
        Assert.Equal(1, subscribed);
        Assert.Equal(1, stopped);
        Assert.Equal(0, callee.RunningCalls);
        Assert.Equal(0, caller.PendingCalls);
    }

    [Fact]
    public void Stream_ProducerErrors_ReachTheCallerTyped()
    {
        var (caller, _, _, scheduler) = NewPair((b, _) => b.Bind("fails", () => Observable.Range(1, 2).Concat(Observable.Throw<int>(new FormatException("bad item")))));
        var observer = scheduler.CreateObserver<int>();

        caller.Stream<int>("fails").Subscribe(observer);
        scheduler.AdvanceTo(100);

        Assert.Equal(new[] { 1, 2 }, observer.Messages.Where(m => m.Value.HasValue).Select(m => m.Value.Value));
        var error = Assert.IsType<RpcException>(observer.Messages.Last().Value.Exception);
        Assert.Equal((RpcErrorKind.RemoteException, "bad item", typeof(FormatException).FullName), (error.Kind, error.Message, error.RemoteType));
    }

    [Fact]
    public void Stream_SendsNoMoreThanTheWindow_UntilTheCallerAcknowledges()
    {
        var (_, _, pair, scheduler) = NewPair((b, _) => b.Bind("many", () => Observable.Range(0, 100)));
        var wire = new MessagePackRpcWire(RpcOptions.DefaultSerializer, 64);
        var received = new List<byte[]>();
        pair.B.Frames.Subscribe(f => received.Add(f.Data.ToArray()));

        // A hand-made caller that asks for a window of 4 and does not acknowledge.
        pair.B.Send(Write(w => wire.WriteStreamRequest(w, 7, "many", 4, [])));
        scheduler.AdvanceTo(1000);
        Assert.Equal(new[] { 0, 1, 2, 3 }, received.Select(Item));

        pair.B.Send(Write(w => wire.WriteControl(w, MessagePackRpcWire.AckMethod, 7, 10)));
        scheduler.AdvanceTo(2000);
        Assert.Equal(Enumerable.Range(0, 14), received.Select(Item));

        pair.B.Send(Write(w => wire.WriteControl(w, MessagePackRpcWire.AckMethod, 7, 1000)));
        scheduler.AdvanceTo(3000);
        Assert.Equal(Enumerable.Range(0, 100), received.Take(100).Select(Item));
        var end = MessagePackSerializer.Deserialize<object[]>(received[100]);
        Assert.Equal(((byte)1, (byte)7, null, null), ((byte)end[0], (byte)end[1], end[2], end[3]));
    }

    [Fact]
    public void Stream_ProducerOutrunningItsBuffer_EndsWithPayloadTooLarge_AndIsUnsubscribed()
    {
        bool disposed = false;
        var source = new Subject<int>();
        var (_, _, pair, scheduler) = NewPair((b, _) => b.Bind("flood", () => source.Finally(() => disposed = true)), new RpcOptions { MaxStreamBufferBytes = 1000 });
        var wire = new MessagePackRpcWire(RpcOptions.DefaultSerializer, 64);
        var received = new List<byte[]>();
        pair.B.Frames.Subscribe(f => received.Add(f.Data.ToArray()));
        pair.B.Send(Write(w => wire.WriteStreamRequest(w, 9, "flood", 2, [])));
        scheduler.AdvanceTo(100);

        for (int i = 0; i < 1000 && !disposed; i++) source.OnNext(i);
        scheduler.AdvanceTo(200);

        Assert.True(disposed);
        Assert.Equal(2, received.Count(f => f.Length < 20 && MessagePackSerializer.Deserialize<object[]>(f)[0] is byte and 2));
        var end = MessagePackSerializer.Deserialize<object[]>(received.Last());
        Assert.Equal((int)RpcErrorKind.PayloadTooLarge, Convert.ToInt32(((object[])end[2])[0]));
        Assert.True(pair.A.IsOpen);
    }

    private static byte[] Write(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The item of a <c>[2, "$/next", [id, item]]</c> frame.</summary>
    private static int Item(byte[] frame)
    {
        var message = MessagePackSerializer.Deserialize<object[]>(frame);
        Assert.Equal("$/next", message[1]);
        return Convert.ToInt32(((object[])message[2])[1]);
    }
}
