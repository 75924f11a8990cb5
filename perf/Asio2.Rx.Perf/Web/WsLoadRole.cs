using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using HdrHistogram;

using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Web;

/// <summary>
/// The WebSocket load generator, in its own (pinned) process: each client is a plain <see cref="Socket"/> that does the
/// opening handshake by hand, then keeps <c>--inflight</c> masked binary messages of <c>--size</c> bytes outstanding. It walks
/// the echoed frames' headers, records each message's round trip, and sends as many new (pre-masked) messages as came back,
/// in one write. Nothing is allocated per message, and the client's cost is the same whichever server it talks to.
/// Protocol as the other load roles: <c>READY</c>, then <c>start</c>/<c>STARTED</c>, <c>stop</c>/<c>LOAD ...</c>.
/// </summary>
internal static class WsLoadRole
{
    /// <summary>0 before the window, 1 inside it (latencies recorded), 2 after.</summary>
    private static volatile int s_phase;

    public static async Task<int> RunAsync(PerfArgs args)
    {
        int port = args.Int("port", 0);
        int clients = args.Int("clients", 100);
        int inflight = args.Int("inflight", 100);
        int size = args.Int("size", 32);
        if (port <= 0 || clients < 1 || inflight < 1 || size < 0 || size > ushort.MaxValue)
            throw new ArgumentException("need --port, --clients >= 1, --inflight >= 1, 0 <= --size <= 65535");

        var all = new Client[clients];
        for (int i = 0; i < clients; i++) all[i] = await Client.ConnectAsync(port, inflight, size).ConfigureAwait(false);
        foreach (var c in all) c.Start();
        Console.WriteLine($"READY clients={clients} inflight={inflight} size={size}");

        ProcessMark begin = default;
        var startCounts = new long[clients];
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
                Array.Sort(perClient);
                double Share(long n) => messages == 0 ? 0 : n * (double)clients / messages;
                var failure = all.Select(c => c.Failure).FirstOrDefault(f => f is not null);
                foreach (var c in all) c.Close();
                await Task.WhenAll(all.Select(c => c.Completion)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                var histogram = new LongHistogram(Client.HighestLatencyNs, 3);
                foreach (var c in all) histogram.Add(c.Latency);
                long P(double p) => histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(p);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"LOAD msgs={messages} elapsed_ns={cost.TimestampNs} p50_ns={P(50)} p99_ns={P(99)} p999_ns={P(99.9)} cpu_ns={cost.CpuNs} " +
                    $"fair_min={Share(perClient[0]):F3} fair_max={Share(perClient[^1]):F3} failed={(failure is null ? "no" : failure.GetType().Name)}"));
                if (failure is not null) Console.Error.WriteLine($"a client failed: {failure}");
                return failure is null ? 0 : 1;
            }
        }
        foreach (var c in all) c.Close();
        return 0;
    }

    private sealed class Client
    {
        public const long HighestLatencyNs = 60L * 1_000_000_000;

        private readonly Socket _socket;
        private readonly int _inflight;
        private readonly int _size;
        private readonly int _frameLength;      // one masked client frame
        private readonly byte[] _frames;        // `inflight` identical masked frames
        private readonly byte[] _receive = new byte[128 * 1024];
        private readonly long[] _sentAt;        // ring of send timestamps, in send order
        private readonly object _lock = new();
        private readonly double _ticksToNs = 1e9 / Stopwatch.Frequency;
        private int _carry;                     // bytes of an incomplete frame at the front of _receive
        private int _sentTail, _echoHead, _owed;
        private bool _sending;
        private long _echoed;
        private volatile bool _closing;

        private Client(Socket socket, int inflight, int size, ReadOnlySpan<byte> afterHandshake)
        {
            _socket = socket;
            _inflight = inflight;
            _size = size;
            int header = 2 + (size >= 126 ? 2 : 0) + 4;
            _frameLength = header + size;
            var one = new byte[_frameLength];
            one[0] = 0x82; // FIN + binary
            if (size < 126) one[1] = (byte)(0x80 | size);
            else
            {
                one[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(one.AsSpan(2), (ushort)size);
            }
            Span<byte> mask = one.AsSpan(header - 4, 4);
            Random.Shared.NextBytes(mask);
            for (int i = 0; i < size; i++) one[header + i] = (byte)(i ^ mask[i & 3]);
            _frames = new byte[_frameLength * inflight];
            for (int i = 0; i < inflight; i++) one.CopyTo(_frames, i * _frameLength);
            _sentAt = new long[inflight];
            afterHandshake.CopyTo(_receive);
            _carry = afterHandshake.Length;
        }

        public long Echoed => Volatile.Read(ref _echoed);
        public LongHistogram Latency { get; } = new(HighestLatencyNs, 3);
        public Exception? Failure { get; private set; }
        public Task Completion { get; private set; } = Task.CompletedTask;

        /// <summary>Connects and performs the opening handshake (RFC 6455 §4.1) for /ws.</summary>
        public static async Task<Client> ConnectAsync(int port, int inflight, int size)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            var request = $"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                          $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None).ConfigureAwait(false);
            var buffer = new byte[4096];
            int n = 0, end;
            while ((end = buffer.AsSpan(0, n).IndexOf("\r\n\r\n"u8)) < 0)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(n), SocketFlags.None).ConfigureAwait(false);
                if (read == 0 || n + read == buffer.Length) throw new IOException("no handshake response");
                n += read;
            }
            string head = Encoding.ASCII.GetString(buffer, 0, end);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal)) throw new IOException($"handshake refused: {head}");
            return new Client(socket, inflight, size, buffer.AsSpan(end + 4, n - end - 4));
        }

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
            try
            {
                int end = _carry; // frames that came with the handshake response
                int early = CountMessages(ref end);
                if (early > 0) Echo(early, Stopwatch.GetTimestamp());
                while (true)
                {
                    int n = await _socket.ReceiveAsync(_receive.AsMemory(_carry), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0) throw new IOException("the server closed the connection");
                    long now = Stopwatch.GetTimestamp();
                    end = _carry + n;
                    int complete = CountMessages(ref end);
                    if (complete > 0) Echo(complete, now);
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

        /// <summary>Walks the server's (unmasked) frames in _receive[0..end): counts binary messages of --size bytes, keeps
        /// an incomplete frame at the front for the next read (updating _carry), and fails on anything else.</summary>
        private int CountMessages(ref int end)
        {
            var span = _receive.AsSpan(0, end);
            int at = 0, count = 0;
            while (end - at >= 2)
            {
                byte op = (byte)(span[at] & 0x0F);
                int code = span[at + 1] & 0x7F;
                int header = code == 126 ? 4 : code == 127 ? 10 : 2;
                if (end - at < header) break;
                long length = code == 126 ? BinaryPrimitives.ReadUInt16BigEndian(span[(at + 2)..]) : code == 127 ? (long)BinaryPrimitives.ReadUInt64BigEndian(span[(at + 2)..]) : code;
                if (end - at < header + length) break;
                if (op == 0x8) throw new IOException("the server sent a close frame");
                if (op == 0x2 && (span[at] & 0x80) != 0)
                {
                    if (length != _size) throw new InvalidDataException($"echoed message has {length} bytes, sent {_size}");
                    count++;
                }
                else if (op is not (0x9 or 0xA)) throw new InvalidDataException($"unexpected frame 0x{span[at]:X2}");
                at += header + (int)length;
            }
            _carry = end - at;
            if (_carry > 0 && at > 0) span[at..end].CopyTo(_receive);
            return count;
        }

        private void Echo(int count, long now)
        {
            Record(count, now);
            Volatile.Write(ref _echoed, _echoed + count);
            Replace(count);
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
                    var batch = _frames.AsMemory(0, n * _frameLength);
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
