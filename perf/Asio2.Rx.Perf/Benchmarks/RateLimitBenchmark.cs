using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;

namespace Asio2.Rx.Perf;

/// <summary>
/// How close a session's write rate limit lands to its target in real time: a TcpServer session with
/// <see cref="SessionOptions.WriteRateLimit"/> sends as fast as it is allowed to a plain socket reader on loopback,
/// measured over a fixed window after a warm-up. The baseline is the same session without a limit (what the path
/// can do at all), run alternately in the same process.
/// </summary>
internal sealed class RateLimitBenchmark : IBenchmark
{
    public string Name => "rate-limit";

    public string Description => "achieved vs configured write rate of a limited TCP session on loopback; baseline: unlimited";

    public async Task<int> RunAsync(PerfArgs args)
    {
        double seconds = args.Double("seconds", 10);
        double warmup = args.Double("warmup", 1);
        long rate = (long)args.Double("rate", 10_000_000);       // bytes per second: 10 MB/s
        long burst = (long)args.Double("burst", rate / 10);      // RateLimit's default
        int pairs = args.Int("pairs", 3);
        int chunk = args.Int("chunk", 64 * 1024);
        Console.WriteLine($"rate-limit: target {rate:N0} B/s (burst {burst:N0} B), {seconds} s windows after {warmup} s warm-up, " +
                          $"{pairs} pairs (limited, unlimited alternating), {chunk / 1024} KiB sends; " +
                          $"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, in-process, unpinned");

        var limited = new List<Run>();
        var unlimited = new List<Run>();
        for (int i = 0; i < pairs; i++)
        {
            var l = await MeasureAsync(new RateLimit(rate, burst), seconds, warmup, chunk);
            Print($"limited   {i + 1}", l, rate);
            limited.Add(l);
            var u = await MeasureAsync(null, seconds, warmup, chunk);
            Print($"unlimited {i + 1}", u, null);
            unlimited.Add(u);
        }

        double achieved = Median(limited.Select(r => r.BytesPerSecond));
        double baseline = Median(unlimited.Select(r => r.BytesPerSecond));
        double error = (achieved - rate) * 100.0 / rate;
        Console.WriteLine($"median: limited {achieved:N0} B/s ({error:+0.00;-0.00} % off target), unlimited {baseline:N0} B/s, " +
                          $"limited/unlimited {achieved / baseline:0.0000}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT rate-limit achieved_bytes_per_s={achieved:0} error_pct={error:0.00} target_bytes_per_s={rate} baseline_bytes_per_s={baseline:0} ratio={achieved / baseline:0.0000}"));
        return Math.Abs(error) <= 5 ? 0 : 1;
    }

    private sealed record Run(double BytesPerSecond, double SendsPerSecond, long GapP50Micros, long GapP99Micros, double AllocatedPerSend);

    private static void Print(string label, Run r, long? target)
    {
        string off = target is { } t ? $" ({(r.BytesPerSecond - t) * 100.0 / t:+0.00;-0.00} % off target)" : "";
        Console.WriteLine($"{label}: {r.BytesPerSecond:N0} B/s{off}, {r.BytesPerSecond / (1024 * 1024):0.0} MiB/s, " +
                          $"{r.SendsPerSecond:N0} sends/s, gap between reads p50 {r.GapP50Micros} us p99 {r.GapP99Micros} us, " +
                          $"{r.AllocatedPerSend:0} B allocated per send");
    }

    /// <summary>One run: a server session writing flat out (within its limit) to a socket that reads everything.</summary>
    private static async Task<Run> MeasureAsync(RateLimit? limit, double seconds, double warmup, int chunk)
    {
        using var stop = new CancellationTokenSource();
        await using var server = new TcpServer(new TcpServerOptions { WriteRateLimit = limit });
        var payload = new byte[chunk];
        long sends = 0;
        server.Sessions.Subscribe(session => _ = ProduceAsync(session, payload, () => Interlocked.Increment(ref sends), stop.Token));
        var bound = server.Start(new IPEndPoint(IPAddress.Loopback, 0));

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(bound);
        var buffer = new byte[1024 * 1024];
        var gaps = new LongHistogram(TimeSpan.FromSeconds(10).Ticks, 3);
        var clock = Stopwatch.StartNew();
        long bytes = 0, startBytes = 0, startSends = 0, startAlloc = 0;
        long startTicks = 0, lastRead = 0;
        bool counting = false;
        long warmupTicks = (long)(warmup * Stopwatch.Frequency), endTicks = (long)((warmup + seconds) * Stopwatch.Frequency);
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0) throw new InvalidOperationException("the server closed the connection");
            long now = clock.ElapsedTicks;
            bytes += n;
            if (!counting && now >= warmupTicks)
            {
                counting = true;
                startBytes = bytes;
                startTicks = now;
                startSends = Interlocked.Read(ref sends);
                startAlloc = GC.GetTotalAllocatedBytes(true);
            }
            else if (counting)
            {
                gaps.RecordValue(Math.Min((now - lastRead) * TimeSpan.TicksPerSecond / Stopwatch.Frequency, gaps.HighestTrackableValue));
                if (now >= endTicks) break;
            }
            lastRead = now;
        }
        long endBytes = bytes, endNow = clock.ElapsedTicks, endSends = Interlocked.Read(ref sends);
        long allocated = GC.GetTotalAllocatedBytes(true) - startAlloc;
        stop.Cancel();
        double elapsed = (double)(endNow - startTicks) / Stopwatch.Frequency;
        long window = Math.Max(1, endSends - startSends);
        return new Run(
            (endBytes - startBytes) / elapsed,
            window / elapsed,
            gaps.GetValueAtPercentile(50) / 10,
            gaps.GetValueAtPercentile(99) / 10,
            (double)allocated / window);
    }

    /// <summary>Keeps the session's send queue topped up: at most 32 sends outstanding (2 MiB at 64 KiB, under the
    /// 4 MiB queue bound), awaiting the oldest before adding one, so the writer never runs dry.</summary>
    private static async Task ProduceAsync(Session session, byte[] payload, Action sent, CancellationToken stop)
    {
        var outstanding = new Queue<Task>();
        try
        {
            while (!stop.IsCancellationRequested && session.IsOpen)
            {
                outstanding.Enqueue(session.Send(payload).AsTask());
                sent();
                if (outstanding.Count >= 32) await outstanding.Dequeue().ConfigureAwait(false);
            }
        }
        catch (SessionClosedException)
        {
            // The run is over.
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
