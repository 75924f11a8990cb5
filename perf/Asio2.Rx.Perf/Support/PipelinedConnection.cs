using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using HdrHistogram;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// One connection of a load generator (tcp-echo's and ws-echo's load roles): it keeps <c>inflight</c> identical messages
/// outstanding on a plain <see cref="Socket"/>, records the round trip of each one echoed, and sends as many new messages
/// as came back, in one write. Nothing is allocated per message. A subclass supplies the frame it sends and says how the
/// echoed bytes divide into messages (<see cref="CountMessages"/>); <see cref="RunLoadAsync"/> drives a set of connections
/// through the load roles' protocol.
/// </summary>
internal abstract class PipelinedConnection
{
    public const long HighestLatencyNs = 60L * 1_000_000_000;

    /// <summary>0 before the window, 1 inside it (latencies recorded), 2 after. A process runs one load role.</summary>
    private static volatile int s_phase;

    private readonly Socket _socket;
    private readonly int _inflight;
    private readonly byte[] _frames;      // `inflight` identical frames: any run of n messages is its first n * FrameLength bytes
    private readonly byte[] _receive;
    private readonly long[] _sentAt;      // ring of send timestamps, one per outstanding message, in send order
    private readonly object _lock = new();
    private readonly double _ticksToNs = 1e9 / Stopwatch.Frequency;
    private readonly int _received;       // bytes read before Start (after a handshake), at the front of _receive
    private int _sentTail;                // next ring slot the sender stamps
    private int _echoHead;                // next ring slot the receiver reads
    private int _owed;                    // messages echoed and not yet replaced
    private bool _sending;
    private long _echoed;
    private volatile bool _closing;

    /// <param name="socket">The connected socket; the connection owns it from here on.</param>
    /// <param name="inflight">How many messages to keep outstanding.</param>
    /// <param name="frame">One message as it goes on the wire.</param>
    /// <param name="receiveBufferSize">The receive buffer's size: room for at least one frame and whatever follows it.</param>
    /// <param name="received">Bytes already read from the socket (after a handshake), parsed before the first receive.</param>
    protected PipelinedConnection(Socket socket, int inflight, ReadOnlySpan<byte> frame, int receiveBufferSize, ReadOnlySpan<byte> received = default)
    {
        _socket = socket;
        _inflight = inflight;
        FrameLength = frame.Length;
        if ((long)FrameLength * inflight > Array.MaxLength) throw new ArgumentException("inflight x size too large");
        _frames = new byte[FrameLength * inflight];
        for (int i = 0; i < inflight; i++) frame.CopyTo(_frames.AsSpan(i * FrameLength));
        _receive = new byte[receiveBufferSize];
        received.CopyTo(_receive);
        _received = received.Length;
        _sentAt = new long[inflight];
    }

    public int FrameLength { get; }
    public long Echoed => Volatile.Read(ref _echoed);
    public LongHistogram Latency { get; } = new(HighestLatencyNs, 3);
    public Exception? Failure { get; private set; }
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Starts every connection, prints <paramref name="ready"/>, then follows the parent's commands: <c>start</c> opens the
    /// counted window (answered with <c>STARTED</c>), <c>stop</c> closes it, closes the connections and prints
    /// <c>LOAD msgs= elapsed_ns= p50_ns= p99_ns= p999_ns= max_ns= cpu_ns= alloc= fair_min= fair_max= failed=</c>.
    /// Returns the process's exit code: 1 when a connection failed.
    /// </summary>
    public static async Task<int> RunLoadAsync(IReadOnlyList<PipelinedConnection> all, string ready)
    {
        int clients = all.Count;
        foreach (var c in all) c.Start();
        Console.WriteLine(ready);

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
                var histogram = new LongHistogram(HighestLatencyNs, 3);
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

    /// <summary>
    /// Walks the complete frames at the front of <paramref name="received"/>: returns how many echoed messages they hold and
    /// sets <paramref name="consumed"/> to their length; the rest is kept for the next receive. Throws on a frame that is
    /// not an echo of what was sent.
    /// </summary>
    protected abstract int CountMessages(ReadOnlySpan<byte> received, out int consumed);

    private void Start()
    {
        Completion = ReceiveLoopAsync().AsTask();
        Replace(_inflight);
    }

    private void Close()
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
            int carry = _received == 0 ? 0 : Take(_received, Stopwatch.GetTimestamp()); // bytes of an incomplete frame at the front of _receive
            while (true)
            {
                int n = await _socket.ReceiveAsync(_receive.AsMemory(carry), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) throw new IOException("the server closed the connection");
                carry = Take(carry + n, Stopwatch.GetTimestamp());
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

    /// <summary>
    /// Counts the messages in _receive[0..end) received at <paramref name="now"/>, records and replaces them, and moves an
    /// incomplete frame to the front; returns its length.
    /// </summary>
    private int Take(int end, long now)
    {
        int complete = CountMessages(_receive.AsSpan(0, end), out int consumed);
        int carry = end - consumed;
        if (carry > 0 && consumed > 0) _receive.AsSpan(consumed, carry).CopyTo(_receive);
        if (complete > 0)
        {
            Record(complete, now);
            Volatile.Write(ref _echoed, _echoed + complete);
            Replace(complete);
        }
        return carry;
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
