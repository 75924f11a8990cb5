using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using Xunit;

namespace Asio2.Rx.Tests.Tcp;

/// <summary><see cref="SocketChannel"/>: receives made on a <see cref="SocketLoop"/> wait in the loop's epoll and complete
/// on the loop thread; closing and detaching leave no receive hanging.</summary>
public class SocketChannelTests
{
    private static async Task<(Socket Server, Socket Client)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = await Wait.ConnectRaw((IPEndPoint)listener.LocalEndPoint!);
        var server = await listener.AcceptAsync().WaitAsync(Wait.Long);
        return (server, client);
    }

    /// <summary>Starts a receive on the loop and reports its outcome and whether it completed on the loop thread.</summary>
    private static Task<(int Read, Exception? Error, bool OnLoop, bool WasPending)> ReceiveOnLoop(SocketLoop loop, SocketChannel channel, Memory<byte> buffer)
    {
        var outcome = new TaskCompletionSource<(int, Exception?, bool, bool)>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Schedule(() =>
        {
            var receive = channel.ReceiveAsync(buffer, CancellationToken.None);
            bool pending = !receive.IsCompleted;
            var awaiter = receive.ConfigureAwait(false).GetAwaiter();
            awaiter.UnsafeOnCompleted(() =>
            {
                try { outcome.SetResult((awaiter.GetResult(), null, loop.IsCurrent, pending)); }
                catch (Exception ex) { outcome.SetResult((0, ex, loop.IsCurrent, pending)); }
            });
        });
        return outcome.Task.WaitAsync(Wait.Long);
    }

    /// <summary>Completes once the loop ran everything scheduled before: a receive started there is waiting by then.</summary>
    private static Task LoopCaughtUp(SocketLoop loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Schedule(done.SetResult);
        return done.Task.WaitAsync(Wait.Long);
    }

    [SocketLoopFact]
    public async Task A_receive_that_waits_for_data_completes_on_the_loop_thread()
    {
        using var loop = SocketLoop.TryCreate("test loop")!;
        var (server, client) = await ConnectedPairAsync();
        using var _ = client;
        var channel = new SocketChannel(server);
        channel.Attach(loop);
        var buffer = new byte[64];
        var receive = ReceiveOnLoop(loop, channel, buffer);
        await LoopCaughtUp(loop);
        client.Send("hello"u8);
        var (read, error, onLoop, pending) = await receive;
        Assert.Null(error);
        Assert.True(pending);
        Assert.True(onLoop);
        Assert.Equal("hello"u8.ToArray(), buffer.AsSpan(0, read).ToArray());
        channel.Close();
        server.Dispose();
    }

    [SocketLoopFact]
    public async Task A_zero_byte_receive_waits_for_data_and_leaves_it_for_the_next_read()
    {
        using var loop = SocketLoop.TryCreate("test loop")!;
        var (server, client) = await ConnectedPairAsync();
        using var _ = client;
        var channel = new SocketChannel(server);
        channel.Attach(loop);
        var ready = ReceiveOnLoop(loop, channel, Memory<byte>.Empty);
        await LoopCaughtUp(loop);
        client.Send([1, 2, 3]);
        var (read, error, onLoop, pending) = await ready;
        Assert.Null(error);
        Assert.True(pending);
        Assert.True(onLoop);
        Assert.Equal(0, read);
        var buffer = new byte[8];
        var data = await ReceiveOnLoop(loop, channel, buffer);
        Assert.False(data.WasPending); // the bytes were there: the read completed at once
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer.AsSpan(0, data.Read).ToArray());
        channel.Close();
        server.Dispose();
    }

    [SocketLoopFact]
    public async Task The_peer_closing_completes_a_waiting_receive_with_end_of_stream()
    {
        using var loop = SocketLoop.TryCreate("test loop")!;
        var (server, client) = await ConnectedPairAsync();
        var channel = new SocketChannel(server);
        channel.Attach(loop);
        var receive = ReceiveOnLoop(loop, channel, new byte[16]);
        await LoopCaughtUp(loop);
        client.Shutdown(SocketShutdown.Send);
        var (read, error, onLoop, pending) = await receive;
        Assert.Null(error);
        Assert.True(pending);
        Assert.True(onLoop);
        Assert.Equal(0, read);
        client.Dispose();
        channel.Close();
        server.Dispose();
    }

    [SocketLoopFact]
    public async Task Closing_the_channel_ends_a_waiting_receive()
    {
        using var loop = SocketLoop.TryCreate("test loop")!;
        var (server, client) = await ConnectedPairAsync();
        using var _ = client;
        var channel = new SocketChannel(server);
        channel.Attach(loop);
        var receive = ReceiveOnLoop(loop, channel, new byte[16]);
        await LoopCaughtUp(loop);
        channel.Close();
        server.Dispose();
        var (_, error, onLoop, pending) = await receive;
        Assert.True(pending);
        Assert.IsType<ObjectDisposedException>(error);
        Assert.True(onLoop);
    }

    [SocketLoopFact]
    public async Task Detaching_gives_back_a_blocking_socket_that_reads_as_before()
    {
        using var loop = SocketLoop.TryCreate("test loop")!;
        var (server, client) = await ConnectedPairAsync();
        using var _ = client;
        var channel = new SocketChannel(server);
        channel.Attach(loop);
        Assert.False(server.Blocking);
        var first = ReceiveOnLoop(loop, channel, new byte[16]);
        client.Send([7]);
        Assert.Equal(1, (await first).Read);
        var detached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Schedule(() =>
        {
            channel.Detach();
            detached.SetResult();
        });
        await detached.Task.WaitAsync(Wait.Long);
        Assert.True(server.Blocking);
        using var stream = new NetworkStream(server, ownsSocket: true);
        client.Send([8, 9]);
        var buffer = new byte[2];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Wait.Long);
        Assert.Equal(new byte[] { 8, 9 }, buffer);
    }
}
