using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Asio2.Rx.Perf.Support;
using HdrHistogram;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// The load generator of an echo benchmark, run in its own (pinned) process. Each client keeps <c>--inflight</c>
/// datagram-framed messages of <c>--size</c> payload bytes outstanding on a plain <see cref="Socket"/>: it parses echoed
/// frames from its receive buffer, records each one's round trip, and sends as many new messages as came back, in one
/// write. Nothing is allocated per message. Protocol: prints <c>READY</c> once every client is connected and pumping;
/// <c>start</c> on stdin opens the counted window, <c>stop</c> closes it and prints a <c>LOAD ...</c> line.
/// </summary>
internal static class EchoLoadRole
{
    /// <summary>0 before the window, 1 inside it (latencies recorded), 2 after.</summary>
    private static volatile int s_phase;

    public static async Task<int> RunAsync(PerfArgs args)
    {
        int port = args.Int("port", 0);
        int clients = args.Int("clients", 100);
        int inflight = args.Int("inflight", 1000);
        int size = args.Int("size", 32);
        if (port <= 0 || clients < 1 || inflight < 1 || size < 0) throw new ArgumentException("need --port, --clients >= 1, --inflight >= 1, --size >= 0");

        var all = new LoadClient[clients];
        for (int i = 0; i < clients; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            all[i] = new LoadClient(socket, inflight, size);
        }
        foreach (var c in all) c.Start();
        Console.WriteLine($"READY clients={clients} inflight={inflight} size={size} frame={all[0].FrameLength}");

        ProcessMark begin = default;
        long[] startCounts = new long[clients];
        while (await ParentCommands.ReadAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "start")
            {
                for (int i = 0; i < clients; i++) startCounts[i] = all[i].Echoed;
                begin = ProcessMark.Take();
                s_phase = 1;
                Console.WriteLine("STARTED");
            }
            else if (line == "stop")
            {
                s_phase = 2;
                var cost = ProcessMark.Take() - begin;
                var perClient = new long[clients];
                for (int i = 0; i < clients; i++) perClient[i] = all[i].Echoed - startCounts[i];
                long messages = perClient.Sum();
                // Fairness: how evenly the server served the connections (each has the same load offered).
                Array.Sort(perClient);
                double share(long n) => messages == 0 ? 0 : n * (double)clients / messages;
                var failure = all.Select(c => c.Failure).FirstOrDefault(f => f is not null);
                foreach (var c in all) c.Close();
                await Task.WhenAll(all.Select(c => c.Completion)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                var histogram = new LongHistogram(LoadClient.HighestLatencyNs, 3);
                foreach (var c in all) histogram.Add(c.Latency);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"LOAD msgs={messages} elapsed_ns={cost.TimestampNs} p50_ns={Percentile(histogram, 50)} p99_ns={Percentile(histogram, 99)} " +
                    $"p999_ns={Percentile(histogram, 99.9)} max_ns={histogram.GetMaxValue()} cpu_ns={cost.CpuNs} alloc={cost.AllocatedBytes} " +
                    $"fair_min={share(perClient[0]):F3} fair_max={share(perClient[^1]):F3} failed={(failure is null ? "no" : failure.GetType().Name)}"));
                if (failure is not null) Console.Error.WriteLine($"a client failed: {failure}");
                return failure is null ? 0 : 1;
            }
        }
        foreach (var c in all) c.Close();
        return 0;
    }

    private static long Percentile(LongHistogram h, double p) => h.TotalCount == 0 ? 0 : h.GetValueAtPercentile(p);

    /// <summary>One connection: a receive loop that parses echoes, and a coalescing send loop that replaces them.</summary>
    private sealed class LoadClient
    {
        public const long HighestLatencyNs = 60L * 1_000_000_000;

        private readonly Socket _socket;
        private readonly int _inflight;
        private readonly int _size;
        private readonly int _headerLength;
        private readonly byte[] _frames;      // `inflight` identical frames: any run of n messages is its first n * FrameLength bytes
        private readonly byte[] _receive;
        private readonly long[] _sentAt;      // ring of send timestamps, one per outstanding message, in send order
        private readonly object _lock = new();
        private readonly double _ticksToNs = 1e9 / Stopwatch.Frequency;
        private int _sentTail;                // next ring slot the sender stamps
        private int _echoHead;                // next ring slot the receiver reads
        private int _owed;                    // messages echoed and not yet replaced
        private bool _sending;
        private long _echoed;
        private volatile bool _closing;

        public LoadClient(Socket socket, int inflight, int size)
        {
            _socket = socket;
            _inflight = inflight;
            _size = size;
            _headerLength = size < 254 ? 1 : size <= ushort.MaxValue ? 3 : 9;
            FrameLength = _headerLength + size;
            _frames = new byte[(long)FrameLength * inflight > Array.MaxLength ? throw new ArgumentException("inflight x size too large") : FrameLength * inflight];
            var one = Framing.Datagram(Math.Max(size, 1)).Encode(Enumerable.Range(0, size).Select(i => (byte)i).ToArray());
            for (int i = 0; i < inflight; i++) one.CopyTo(_frames, i * FrameLength);
            _receive = new byte[Math.Max(64 * 1024, 2 * FrameLength)];
            _sentAt = new long[inflight];
            Latency = new LongHistogram(HighestLatencyNs, 3);
        }

        public int FrameLength { get; }
        public long Echoed => Volatile.Read(ref _echoed);
        public LongHistogram Latency { get; }
        public Exception? Failure { get; private set; }
        public Task Completion { get; private set; } = Task.CompletedTask;

        public void Start()
        {
            Completion = ReceiveLoopAsync().AsTask();
            Replace(_inflight);
        }

        public void Close()
        {
            _closing = true;
            try { _socket.Shutdown(SocketShutdown.Both); }
            catch (SocketException) { }
            _socket.Dispose();
        }

        private async ValueTask ReceiveLoopAsync()
        {
            int carry = 0; // bytes of an incomplete frame kept at the front of _receive
            try
            {
                while (true)
                {
                    int n = await _socket.ReceiveAsync(_receive.AsMemory(carry), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0) throw new IOException("the server closed the connection");
                    long now = Stopwatch.GetTimestamp();
                    int end = carry + n;
                    int complete = CountFrames(end, out int consumed);
                    carry = end - consumed;
                    if (carry > 0) _receive.AsSpan(consumed, carry).CopyTo(_receive);
                    if (complete == 0) continue;
                    Record(complete, now);
                    Volatile.Write(ref _echoed, _echoed + complete);
                    Replace(complete);
                }
            }
            catch (Exception ex) when (_closing)
            {
                _ = ex; // our own close ended the loop
            }
            catch (Exception ex)
            {
                Failure = ex;
            }
        }

        /// <summary>Walks the datagram headers of the complete frames in _receive[0..end) and checks each announces --size.</summary>
        private int CountFrames(int end, out int consumed)
        {
            var span = _receive.AsSpan(0, end);
            int at = 0, count = 0;
            while (end - at >= FrameLength)
            {
                int length = _headerLength switch
                {
                    1 => span[at],
                    3 when span[at] == 0xFE => span[at + 1] | span[at + 2] << 8,
                    9 when span[at] == 0xFF => (int)BitConverter.ToInt64(span.Slice(at + 1, 8)),
                    _ => -1,
                };
                if (length != _size) throw new InvalidDataException($"echoed frame announces {length} bytes, sent {_size}");
                at += FrameLength;
                count++;
            }
            consumed = at;
            return count;
        }

        /// <summary>Round trips of the next <paramref name="count"/> messages, grouped by send timestamp (one per write).</summary>
        private void Record(int count, long now)
        {
            bool recording = s_phase == 1;
            int head = _echoHead;
            while (count > 0)
            {
                long stamp = _sentAt[head];
                int run = 0;
                do
                {
                    run++;
                    if (++head == _inflight) head = 0;
                } while (run < count && _sentAt[head] == stamp);
                count -= run;
                if (recording) Latency.RecordValueWithCount(Math.Min((long)((now - stamp) * _ticksToNs), HighestLatencyNs), run);
            }
            _echoHead = head;
        }

        /// <summary>Queues <paramref name="count"/> new messages; the send loop writes everything queued in one call.</summary>
        private void Replace(int count)
        {
            lock (_lock)
            {
                _owed += count;
                if (_sending) return;
                _sending = true;
            }
            _ = SendLoopAsync();
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask SendLoopAsync()
        {
            try
            {
                while (true)
                {
                    int n;
                    lock (_lock)
                    {
                        n = _owed;
                        _owed = 0;
                        if (n == 0 || _closing)
                        {
                            _sending = false;
                            return;
                        }
                    }
                    long now = Stopwatch.GetTimestamp();
                    int tail = _sentTail;
                    for (int i = 0; i < n; i++)
                    {
                        _sentAt[tail] = now;
                        if (++tail == _inflight) tail = 0;
                    }
                    _sentTail = tail;
                    var batch = _frames.AsMemory(0, n * FrameLength);
                    while (!batch.IsEmpty)
                    {
                        int sent = await _socket.SendAsync(batch, SocketFlags.None).ConfigureAwait(false);
                        batch = batch[sent..];
                    }
                }
            }
            catch (Exception ex)
            {
                if (!_closing) Failure ??= ex;
                lock (_lock) _sending = false;
            }
        }
    }
}
