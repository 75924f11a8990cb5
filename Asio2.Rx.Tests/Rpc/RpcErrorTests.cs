using System.Buffers;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using MessagePack;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>Typed errors, and malformed input on both wires: an error response or a typed close, never a crash or a hang.</summary>
public sealed class RpcErrorTests
{
    [MessagePackObject]
    public sealed class Node
    {
        [Key(0)] public List<Node> Children { get; set; } = new();
    }

    private static (InMemoryPair Pair, TestScheduler Scheduler, RpcPeer Caller, List<byte[]> Received) NewPair(
        RpcProtocol protocol, Framing? framing = null, RpcOptions? options = null)
    {
        var scheduler = new TestScheduler();
        options ??= new RpcOptions();
        options.Protocol = protocol;
        framing ??= protocol == RpcProtocol.Asio2 ? Framing.Datagram() : Framing.MessagePackObject();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = framing, Schedulers = new SchedulerPool(scheduler) });
        new RpcBindings(options)
            .Bind("add", (int a, int b) => a + b)
            .Bind("boom", int () => throw new InvalidOperationException("boom inside"))
            .Bind("boom_async", async Task<int> () => { await Task.Yield(); throw new ArgumentException("async boom"); })
            .Bind("big", (int n) => new byte[n])
            .Bind("nodes", (Node n) => n.Children.Count)
            .Attach(pair.A);
        var caller = new RpcBindings(options).Attach(pair.B);
        var received = new List<byte[]>();
        pair.B.Frames.Subscribe(f => received.Add(f.Data.ToArray()));
        pair.Start();
        return (pair, scheduler, caller, received);
    }

    private static RpcException CallError<T>(TestScheduler scheduler, IObservable<T> call)
    {
        var observer = scheduler.CreateObserver<T>();
        call.Subscribe(observer);
        scheduler.AdvanceBy(1000);
        return Assert.IsType<RpcException>(Assert.Single(observer.Messages).Value.Exception);
    }

    [Theory]
    [InlineData(RpcProtocol.MessagePackRpc)]
    [InlineData(RpcProtocol.Asio2)]
    public void Errors_AreTyped_AndNeverCloseTheConnection(RpcProtocol protocol)
    {
        var (pair, scheduler, caller, _) = NewPair(protocol);

        Assert.Equal(RpcErrorKind.MethodNotFound, CallError(scheduler, caller.Call<int>("nope")).Kind);
        Assert.Equal(RpcErrorKind.InvalidArguments, CallError(scheduler, caller.Call<int>("add", 1)).Kind);
        Assert.Equal(RpcErrorKind.InvalidArguments, CallError(scheduler, caller.Call<int>("add", 1, 2, 3)).Kind);
        Assert.Equal(RpcErrorKind.InvalidArguments, CallError(scheduler, caller.Call<int>("add", "x", 2)).Kind);
        var remote = CallError(scheduler, caller.Call<int>("boom"));
        Assert.Equal(RpcErrorKind.RemoteException, remote.Kind);
        if (protocol == RpcProtocol.MessagePackRpc)
        {
            Assert.Equal(("boom inside", typeof(InvalidOperationException).FullName), (remote.Message, remote.RemoteType));
            Assert.DoesNotContain(" at ", remote.Message); // no stack trace by default
        }

        Assert.True(pair.A.IsOpen && pair.B.IsOpen);
        var sum = scheduler.CreateObserver<int>();
        caller.Call<int>("add", 2, 3).Subscribe(sum);
        scheduler.AdvanceBy(1000);
        Assert.Equal(5, sum.Messages[0].Value.Value);
    }

    [Fact]
    public async Task AsyncHandlerException_IsARemoteException_WithDetailsWhenAsked()
    {
        await using var rig = await RpcRig.Start(RpcTransport.Memory,
            b => b.Bind("boom_async", async Task<int> () => { await Task.Yield(); throw new ArgumentException("async boom"); }),
            options: new RpcOptions { IncludeExceptionDetails = true });

        var error = await Assert.ThrowsAsync<RpcException>(() => rig.ClientPeer.Call<int>("boom_async").ToTask());

        Assert.Equal((RpcErrorKind.RemoteException, typeof(ArgumentException).FullName), (error.Kind, error.RemoteType));
        Assert.Contains("async boom", error.Message);
        Assert.Contains(" at ", error.Message); // the stack trace, because IncludeExceptionDetails is on
        Assert.Equal(0, rig.ClientPeer.PendingCalls);
    }

    [Theory]
    [InlineData(RpcProtocol.MessagePackRpc)]
    [InlineData(RpcProtocol.Asio2)]
    public void PayloadTooLarge_BothWays_IsAnErrorAndTheSessionStaysOpen(RpcProtocol protocol)
    {
        var framing = protocol == RpcProtocol.Asio2 ? Framing.Datagram(4096) : Framing.MessagePackObject(4096);
        var (pair, scheduler, caller, _) = NewPair(protocol, framing);

        // The response: asio2's wire has no code for it, so the caller sees unspecified_error (11).
        var expected = protocol == RpcProtocol.Asio2 ? RpcErrorKind.RemoteException : RpcErrorKind.PayloadTooLarge;
        Assert.Equal(expected, CallError(scheduler, caller.Call<byte[]>("big", 10_000)).Kind);
        Assert.Equal(RpcErrorKind.PayloadTooLarge, CallError(scheduler, caller.Call<int>("add", new byte[10_000], 1)).Kind); // the request

        Assert.True(pair.A.IsOpen && pair.B.IsOpen);
        Assert.Equal(0, caller.PendingCalls);
    }

    [Fact]
    public void UnmappableTypes_AreRefusedAtBindAndCallTime()
    {
        var asio2 = new RpcBindings(new RpcOptions { Protocol = RpcProtocol.Asio2 });
        var bind = Assert.Throws<NotSupportedException>(() => asio2.Bind("when", (DateTime d) => d));
        Assert.Contains("'when'", bind.Message);
        Assert.Throws<NotSupportedException>(() => asio2.Bind("obj", (object o) => 1));
        var (_, _, caller, _) = NewPair(RpcProtocol.Asio2);
        Assert.Throws<NotSupportedException>(() => caller.Call<int>("add", DateTime.Now, 1));
        Assert.Throws<NotSupportedException>(() => caller.Stream<int>("add", 1, 2)); // asio2's wire has no streams
        Assert.Throws<ArgumentException>(() => new RpcBindings().Bind("$/mine", () => 1));
    }

    public static TheoryData<string, string> MalformedMessagePackRpc() => new()
    {
        // name, payload hex (inside a datagram frame, so truncation is possible)
        { "truncated", "940001a3616464" },
        { "request with 3 elements", "930001a3616464" },
        { "unknown message type", "940501a361646490" },
        { "params not an array", "940001a361646405" },
        { "method not a string", "9400010590" },
        { "msgid not an integer", "9400a17aa361646490" },
        { "huge declared array", "940001a3616464ddffffffff" },
        { "huge declared string", "940001dbffffffff" },
        { "not an array at all", "c3" },
        { "reserved type byte", "c1" },
        { "bytes after the message", "940001a36164649000" },
        { "a $/cancel whose id is a string", "9302a8242f63616e63656c91a178" },
    };

    [Theory]
    [MemberData(nameof(MalformedMessagePackRpc))]
    public void MalformedMessagePackRpc_ClosesWithProtocolError(string name, string hex)
    {
        var (pair, scheduler, _, _) = NewPair(RpcProtocol.MessagePackRpc, Framing.Datagram());

        pair.B.Send(Convert.FromHexString(hex));
        scheduler.AdvanceBy(1000);

        Assert.False(pair.A.IsOpen, name);
        Assert.Equal(CloseKind.ProtocolError, pair.A.CloseReason!.Kind);
    }

    [Fact]
    public void DeepNesting_IsRefusedWithoutRecursing()
    {
        var (pair, scheduler, _, _) = NewPair(RpcProtocol.MessagePackRpc, Framing.Datagram());
        // [0, 1, "add", [[[[ ... 100 000 deep ... ]]]]]
        var payload = Convert.FromHexString("940001a3616464").Concat(Enumerable.Repeat((byte)0x91, 100_000)).Append((byte)0x90).ToArray();

        pair.B.Send(payload);
        scheduler.AdvanceBy(1000);

        Assert.Equal(CloseKind.ProtocolError, pair.A.CloseReason!.Kind);
        Assert.Contains("nesting", pair.A.CloseReason.Message);
    }

    [Fact]
    public void HugeLengthOnTheObjectFraming_IsRefusedBeforeItsBytesArrive()
    {
        var (pair, scheduler, _, _) = NewPair(RpcProtocol.MessagePackRpc);

        pair.B.Send(Convert.FromHexString("940001a3616464ddffffffff"));
        scheduler.AdvanceBy(1000);

        Assert.Equal(CloseKind.FrameTooLarge, pair.A.CloseReason!.Kind);
    }

    [Fact]
    public void WrongArgumentTypes_GetAnErrorResponse_AndTheConnectionStays()
    {
        var (pair, scheduler, _, received) = NewPair(RpcProtocol.MessagePackRpc);

        pair.B.Send(MessagePackSerializer.Serialize(new object[] { 0, 5, "add", new object[] { "x", new byte[] { 1 } } }));
        scheduler.AdvanceBy(1000);

        var response = MessagePackSerializer.Deserialize<object[]>(Assert.Single(received));
        Assert.Equal((byte)1, response[0]);
        Assert.Equal((byte)5, response[1]);
        Assert.Equal((int)RpcErrorKind.InvalidArguments, Convert.ToInt32(((object[])response[2])[0]));
        Assert.True(pair.A.IsOpen);
    }

    [Fact]
    public void Asio2_DeepNestingAndHugeCounts_AreInvalidArguments_WithoutRecursionOrBigAllocations()
    {
        var wire = new Asio2RpcWire(64);
        var nodes = new RpcBinding("nodes", (Node n) => n.Children.Count, wire);
        // A Node nested 10 000 deep: each level is "count = 1" followed by the child.
        var deep = new ArrayBufferWriter<byte>();
        wire.WriteRequest(deep, 1, "nodes", [], notification: false);
        for (int i = 0; i < 10_000; i++) deep.WriteUInt64(1);
        deep.WriteUInt64(0);
        var message = wire.Decode(deep.WrittenMemory);
        Assert.Throws<RpcArgumentException>(() => wire.DecodeArguments(message, nodes, new object?[1]));

        // A string claiming 2^62 bytes, and a vector claiming 2^62 elements.
        var strings = new RpcBinding("s", (string s) => s, wire);
        var vectors = new RpcBinding("v", (List<int> v) => v.Count, wire);
        foreach (var binding in new[] { strings, vectors })
        {
            var huge = new ArrayBufferWriter<byte>();
            wire.WriteRequest(huge, 1, binding.Name, [], notification: false);
            huge.WriteUInt64(1UL << 62);
            huge.Write(new byte[16]);
            var hostile = wire.Decode(huge.WrittenMemory);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<RpcArgumentException>(() => wire.DecodeArguments(hostile, binding, new object?[1]));
            Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16 * 1024);
        }
    }

    [Fact]
    public void MessagePackRpc_HugeCounts_AllocateNothingLikeTheirClaim()
    {
        var wire = new MessagePackRpcWire(RpcOptions.DefaultSerializer, 64);
        var payload = Convert.FromHexString("940001a3616464dd7fffffff" + new string('0', 64));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<RpcProtocolException>(() => wire.Decode(payload));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64 * 1024);
    }
}
