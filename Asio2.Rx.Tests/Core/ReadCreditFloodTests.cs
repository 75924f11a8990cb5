using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Linq;
using Asio2.Rx.Tests.ReliableUdp;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.Core;

/// <summary>
/// Issue 9's "must hold": a consumer that works on every frame asynchronously, holding reading meanwhile
/// (<see cref="FrameObservableExtensions.SelectAsync{TResult}"/>), against a peer sending flat out. What waits in the
/// process (frames read and not yet processed, measured with the session's own counters) stays under the bound, and
/// everything arrives intact.
/// </summary>
public class ReadCreditFloodTests
{
    private const int Bound = 64 * 1024;

    // The stream pattern: byte i of the stream is i % 251. A chunk of a multiple of 251 bytes is the same at every offset.
    private static readonly byte[] Chunk = Enumerable.Range(0, 251 * 4177).Select(i => (byte)(i % 251)).ToArray(); // ~1 MiB

    /// <summary>Processes a session's frames asynchronously (off its scheduler, one at a time, reading held), checks the
    /// stream pattern, and records the most bytes ever waiting: read from the transport and not yet processed.</summary>
    private sealed class SlowConsumer
    {
        private readonly long _total;
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _delivered, _processed, _maxWaiting;
        private int _expected; // the next byte of the pattern (steps run one at a time: no lock)
        private bool _intact = true;

        /// <param name="session">The session whose frames are consumed.</param>
        /// <param name="total">The bytes to expect.</param>
        /// <param name="firstStepWaitsFor">When given, the step for the first frame lasts until it completes: the
        /// consumer holds reading that long.</param>
        public SlowConsumer(Session session, long total, Task? firstStepWaitsFor = null)
        {
            _total = total;
            session.Frames
                .Do(f => Interlocked.Add(ref _delivered, f.Length))
                .SelectAsync(async (f, _) =>
                {
                    // Delivered and unprocessed, plus what the session read and holds back (the read this frame came in
                    // included, so this frame is not counted twice).
                    long waiting = Volatile.Read(ref _delivered) - Volatile.Read(ref _processed) + session.PendingReceiveBytes - f.Length;
                    if (waiting > _maxWaiting) _maxWaiting = waiting;
                    if (Interlocked.Exchange(ref firstStepWaitsFor, null) is { } hold) await hold;
                    else await Task.Yield(); // the asynchronous work: continue on the thread pool, off the session's scheduler
                    Check(f.Data.Span);
                    if (Interlocked.Add(ref _processed, f.Length) >= _total) _done.TrySetResult();
                    return f.Length;
                })
                .Subscribe();
        }

        public long MaxWaiting => _maxWaiting;
        public long Processed => Volatile.Read(ref _processed);
        public bool Intact => _intact;
        public Task Done => _done.Task;

        private void Check(ReadOnlySpan<byte> data)
        {
            int expected = _expected;
            foreach (byte b in data)
            {
                if (b != expected) _intact = false;
                if (++expected == 251) expected = 0;
            }
            _expected = expected;
        }
    }

    /// <summary>Runs the flood: <paramref name="peer"/> connects, hands its write to the pump (which writes
    /// <paramref name="chunks"/> chunks flat out), and keeps the connection open until the consumer is done.</summary>
    private static async Task AssertFloodHeld(TcpServerOptions options, Func<IPEndPoint, Func<Func<byte[], Task>, Task>, Task, Task> peer, int chunks)
    {
        long total = (long)Chunk.Length * chunks;
        options.MaxPendingReceiveBytes = Bound;
        await using var server = new TcpServer(options);
        var consumer = new TaskCompletionSource<SlowConsumer>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Sessions.Subscribe(s => consumer.TrySetResult(new SlowConsumer(s, total)));
        var endPoint = server.Start("127.0.0.1", 0);

        var consumerDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sending = peer(endPoint, async write =>
        {
            for (int i = 0; i < chunks; i++) await write(Chunk);
        }, consumerDone.Task);
        var c = await consumer.Task.WaitAsync(Wait.Long);
        await c.Done.WaitAsync(TimeSpan.FromMinutes(3));
        consumerDone.SetResult();
        await sending.WaitAsync(Wait.Long);

        Assert.Equal(total, c.Processed);
        Assert.True(c.Intact, "the bytes arrived in order and unchanged");
        Assert.True(c.MaxWaiting <= Bound, $"{c.MaxWaiting} bytes waited in the process; the bound is {Bound}");
    }

    [Fact]
    public Task Tcp_256MiBFlatOut_AgainstAnAsyncConsumer_StaysUnderTheBound() =>
        AssertFloodHeld(new TcpServerOptions(), async (endPoint, send, done) =>
        {
            using var socket = await Wait.ConnectRaw(endPoint);
            await send(async chunk => await socket.SendAsync(chunk));
            await done;
        }, chunks: 256);

    [Fact]
    public Task Tls_256MiBFlatOut_AgainstAnAsyncConsumer_StaysUnderTheBound() =>
        AssertFloodHeld(new TcpServerOptions { Tls = TlsKit.ServerOptions() }, async (endPoint, send, done) =>
        {
            using var socket = await Wait.ConnectRaw(endPoint);
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }).WaitAsync(Wait.Long);
            await send(async chunk => await ssl.WriteAsync(chunk));
            // Closing now could reset the connection (the server's session ticket sits unread here) and lose data.
            await done;
        }, chunks: 256);

    [Fact]
    public async Task Udp_256MiBFlatOut_WhileTheConsumerHolds_DropsAreCountedAndWhatArrivesIsIntact()
    {
        const int size = 4096, count = 64 * 1024;
        await using var server = new UdpServer(new UdpServerOptions { MaxPendingReceiveBytes = Bound });
        var senderDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var last = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long maxWaiting = 0, delivered = 0, processed = 0;
        int received = 0;
        bool intact = true;
        server.Sessions.Subscribe(s => s.Frames
            .Do(f => Interlocked.Add(ref delivered, f.Length))
            .SelectAsync(async (f, _) =>
            {
                maxWaiting = Math.Max(maxWaiting, Volatile.Read(ref delivered) - Volatile.Read(ref processed) + s.PendingReceiveBytes - f.Length);
                if (received == 0) await senderDone.Task; // the consumer is busy for the whole flood
                else await Task.Yield();
                int seq = BitConverter.ToInt32(f.Data.Span);
                if (!f.Data.Span.SequenceEqual(Datagram(seq, size))) intact = false;
                received++;
                Interlocked.Add(ref processed, f.Length);
                if (seq == count) last.TrySetResult();
                return seq;
            })
            .Subscribe());
        var endPoint = server.Start("127.0.0.1", 0);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(endPoint);

        for (int seq = 0; seq < count; seq++) client.Send(Datagram(seq, size));
        senderDone.SetResult();
        // Reading resumed: a datagram sent after the flood arrives (resent until it does: loopback may drop too).
        using var resend = Observable.Interval(TimeSpan.FromMilliseconds(100)).StartWith(0).Subscribe(_ => client.Send(Datagram(count, size)));
        await last.Task.WaitAsync(Wait.Long);

        Assert.True(intact, "every datagram that arrived is whole and unchanged");
        Assert.True(server.DroppedDatagrams > 0, "datagrams beyond the bound were dropped and counted");
        Assert.True(received + server.DroppedDatagrams <= count + 100, "nothing is delivered twice");
        Assert.True(maxWaiting <= Bound, $"{maxWaiting} bytes waited in the process; the bound is {Bound}");
    }

    [Fact]
    public async Task Kcp_16MiB_WhileTheConsumerHolds_TheServerAdvertisesAZeroWindow_ThenAllArrivesIntact()
    {
        const int chunk = 16 * 1024, chunks = 1024;
        long total = (long)chunk * chunks;
        await using var server = new KcpServer(new KcpServerOptions { MaxPendingReceiveBytes = Bound });
        var consumer = new TaskCompletionSource<SlowConsumer>(TaskCreationOptions.RunContinuationsAsynchronously);
        var kcpWindowBytes = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Seen on the wire: the first segment in which the server advertises a receive window of zero, and how many
        // payload bytes the client had pushed toward the server by then.
        var windowClosed = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        long pushed = 0;
        server.Sessions.Subscribe(s =>
        {
            var engine = ((KcpSession)s).Engine;
            kcpWindowBytes.TrySetResult((long)engine.ReceiveWindow * engine.Mss);
            consumer.TrySetResult(new SlowConsumer(s, total, firstStepWaitsFor: windowClosed.Task));
        });
        var endPoint = server.Start("127.0.0.1", 0);
        await using var relay = new LossyUdpRelay(endPoint, lossRate: 0, seed: 1, (toServer, datagram) =>
        {
            foreach (var (cmd, window, length) in KcpSegments(datagram.Span))
            {
                if (toServer && cmd == Kcp.CmdPush) pushed += length;
                if (!toServer && window == 0) windowClosed.TrySetResult(Volatile.Read(ref pushed));
            }
        });
        await using var client = new KcpClient();
        var session = await client.Connect(relay.FrontEndPoint).First("the handshake");

        var data = Enumerable.Range(0, chunk * chunks).Select(i => (byte)(i % 251)).ToArray();
        var sends = new Queue<Task>();
        for (int i = 0; i < chunks; i++)
        {
            if (sends.Count == 64) await sends.Dequeue().WaitAsync(Wait.Long); // the client's send queue stays bounded
            sends.Enqueue(session.Send(data.AsMemory(i * chunk, chunk)).AsTask());
        }
        long pushedWhenClosed = await windowClosed.Task.WaitAsync(Wait.Long);
        var c = await consumer.Task.WaitAsync(Wait.Long);
        await c.Done.WaitAsync(TimeSpan.FromMinutes(3));

        Assert.True(pushedWhenClosed < total, $"the sender had pushed {pushedWhenClosed} of {total} bytes when the window closed");
        Assert.Equal(total, c.Processed);
        Assert.True(c.Intact, "the messages arrived in order and unchanged");
        // A drain takes at most KCP's receive window out of it: that, or the inbox's bound, is all that waits here.
        long bound = Math.Max(Bound, await kcpWindowBytes.Task) + chunk;
        Assert.True(c.MaxWaiting <= bound, $"{c.MaxWaiting} bytes waited in the process; the bound is {bound}");
    }

    /// <summary>The command, advertised window and payload length of each KCP segment in a datagram (none in asio2's
    /// 12-byte handshake datagrams).</summary>
    private static List<(byte Cmd, int Window, int Length)> KcpSegments(ReadOnlySpan<byte> datagram)
    {
        var segments = new List<(byte, int, int)>();
        while (datagram.Length >= Kcp.Overhead)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(datagram[20..]);
            segments.Add((datagram[4], BinaryPrimitives.ReadUInt16LittleEndian(datagram[6..]), length));
            datagram = datagram[Math.Min(datagram.Length, Kcp.Overhead + Math.Max(length, 0))..];
        }
        return segments;
    }

    private static byte[] Datagram(int seq, int size)
    {
        var d = new byte[size];
        BitConverter.TryWriteBytes(d, seq);
        for (int i = 4; i < size; i++) d[i] = (byte)(seq * 31 + i);
        return d;
    }
}
