using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reactive.Linq;
using HdrHistogram;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// KCP echo throughput over loopback: an Asio2.Rx <see cref="KcpServer"/> echoing to <see cref="KcpClient"/>s that keep
/// <c>--inflight</c> messages outstanding each, against the same load through <see cref="TcpServer"/>/<see cref="TcpClient"/>
/// with asio2's datagram framing (the baseline: the same session API over kernel TCP), alternating TCP KCP TCP KCP.
/// </summary>
/// <remarks>
/// Server and load generator share this process (so the allocation figure covers both ends); pin the process with
/// <c>taskset</c> to compare runs. Options (defaults): --connections 1, --inflight 100, --size 32, --seconds 10,
/// --warmup 2, --pairs 3, --mode asio2|fast|normal, --impls tcp,kcp.
/// </remarks>
internal sealed class KcpEcho : IBenchmark
{
    public string Name => "kcp-echo";

    public string Description => "KCP echo over loopback (Asio2.Rx KcpServer/KcpClient) vs the same load over TcpServer/TcpClient";

    private sealed record Point(string Impl, double MsgsPerSec, double MibPerSec, double P50Us, double P99Us, double AllocPerMsg);

    public async Task<int> RunAsync(PerfArgs args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        int connections = args.Int("connections", 1), inflight = args.Int("inflight", 100), size = Math.Max(8, args.Int("size", 32));
        int seconds = args.Int("seconds", 10), warmup = args.Int("warmup", 2), pairs = args.Int("pairs", 3);
        var mode = Enum.Parse<KcpMode>(args.String("mode", "asio2"), ignoreCase: true);
        var impls = args.String("impls", "tcp,kcp").Split(',', StringSplitOptions.RemoveEmptyEntries);
        Console.WriteLine($"kcp-echo: {connections} connection(s) x {inflight} in flight x {size} B, KCP mode {mode}, " +
                          $"{warmup} s warm-up + {seconds} s counted, {pairs} pairs of {string.Join(" ", impls)}; " +
                          $"server and load in one process, {Environment.ProcessorCount} cpus, GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");
        var points = new List<Point>();
        for (int pair = 1; pair <= pairs; pair++)
        {
            foreach (var impl in impls)
            {
                var p = await RunPointAsync(impl, mode, connections, inflight, size, seconds, warmup).ConfigureAwait(false);
                points.Add(p);
                Console.WriteLine($"  pair {pair} {impl,-4} {p.MsgsPerSec,10:N0} msg/s {p.MibPerSec,7:F1} MiB/s  p50 {p.P50Us,7:F0} us  p99 {p.P99Us,7:F0} us  alloc {p.AllocPerMsg,7:F1} B/msg");
            }
        }
        Console.WriteLine("medians:");
        var medians = impls.ToDictionary(i => i, i =>
        {
            var mine = points.Where(p => p.Impl == i).ToList();
            return new Point(i, Median(mine.Select(p => p.MsgsPerSec)), Median(mine.Select(p => p.MibPerSec)),
                Median(mine.Select(p => p.P50Us)), Median(mine.Select(p => p.P99Us)), Median(mine.Select(p => p.AllocPerMsg)));
        });
        foreach (var m in medians.Values)
            Console.WriteLine($"  {m.Impl,-4} {m.MsgsPerSec,10:N0} msg/s {m.MibPerSec,7:F1} MiB/s  p50 {m.P50Us,7:F0} us  p99 {m.P99Us,7:F0} us  alloc {m.AllocPerMsg,7:F1} B/msg");
        double ratio = double.NaN;
        if (medians.ContainsKey("tcp") && medians.ContainsKey("kcp"))
        {
            var ratios = points.Where(p => p.Impl == "tcp").Zip(points.Where(p => p.Impl == "kcp"), (t, k) => k.MsgsPerSec / t.MsgsPerSec).ToList();
            ratio = Median(ratios);
            Console.WriteLine($"  ratio kcp/tcp by pair: {string.Join(" ", ratios.Select(r => r.ToString("F3")))}  median {ratio:F3}");
        }
        var kcp = medians.GetValueOrDefault("kcp") ?? medians.Values.First();
        var tcp = medians.GetValueOrDefault("tcp");
        Console.WriteLine($"RESULT kcp-echo msgs_per_s={kcp.MsgsPerSec:F0} mib_per_s={kcp.MibPerSec:F1} p50_us={kcp.P50Us:F0} p99_us={kcp.P99Us:F0} " +
                          $"alloc_per_msg={kcp.AllocPerMsg:F1} ratio={ratio:F3} tcp_msgs_per_s={tcp?.MsgsPerSec ?? double.NaN:F0} " +
                          $"tcp_p50_us={tcp?.P50Us ?? double.NaN:F0} connections={connections} inflight={inflight} size={size} mode={mode} pairs={pairs} seconds={seconds}");
        return 0;
    }

    private static async Task<Point> RunPointAsync(string impl, KcpMode mode, int connections, int inflight, int size, int seconds, int warmup)
    {
        IAsyncDisposable server;
        IPEndPoint bound;
        var clients = new List<ReconnectingClient>();
        if (impl == "kcp")
        {
            var s = new KcpServer(new KcpServerOptions { Mode = mode, SocketReceiveBufferSize = 4 << 20, SocketSendBufferSize = 4 << 20 });
            s.Sessions.Subscribe(x => x.Frames.Subscribe(f => f.Session.Send(f.Data)));
            bound = s.Start("127.0.0.1", 0);
            server = s;
            for (int i = 0; i < connections; i++)
                clients.Add(new KcpClient(new KcpClientOptions { Mode = mode, SocketReceiveBufferSize = 4 << 20, SocketSendBufferSize = 4 << 20 }));
        }
        else
        {
            var s = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram() });
            s.Sessions.Subscribe(x => x.Frames.Subscribe(f => f.Session.Send(f.Data)));
            bound = s.Start("127.0.0.1", 0);
            server = s;
            for (int i = 0; i < connections; i++) clients.Add(new TcpClient(new TcpClientOptions { Framing = Framing.Datagram() }));
        }

        long count = 0;
        bool counting = false;
        var histogram = new LongHistogram(TimeSpan.FromSeconds(10).Ticks, 3);
        var payload = new byte[size];
        foreach (var client in clients)
        {
            client.Frames.Subscribe(f =>
            {
                long sent = BinaryPrimitives.ReadInt64LittleEndian(f.Span);
                if (Volatile.Read(ref counting))
                {
                    Interlocked.Increment(ref count);
                    lock (histogram) histogram.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - sent) * 1_000_000 / Stopwatch.Frequency));
                }
                Span<byte> next = stackalloc byte[size];
                BinaryPrimitives.WriteInt64LittleEndian(next, Stopwatch.GetTimestamp());
                f.Session.Send(next);
            });
            var session = await (client switch
            {
                KcpClient k => k.Connect(bound),
                TcpClient t => t.Connect(bound),
                _ => throw new InvalidOperationException(),
            }).FirstAsync().Timeout(TimeSpan.FromSeconds(10));
            for (int i = 0; i < inflight; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(payload, Stopwatch.GetTimestamp());
                _ = session.Send(payload);
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup)).ConfigureAwait(false);
        long allocBefore = GC.GetTotalAllocatedBytes(true);
        var watch = Stopwatch.StartNew();
        Volatile.Write(ref counting, true);
        await Task.Delay(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        Volatile.Write(ref counting, false);
        double elapsed = watch.Elapsed.TotalSeconds;
        long msgs = Interlocked.Read(ref count);
        long alloc = GC.GetTotalAllocatedBytes(true) - allocBefore;

        foreach (var client in clients) await client.DisposeAsync().ConfigureAwait(false);
        await server.DisposeAsync().ConfigureAwait(false);
        lock (histogram)
        {
            return new Point(impl, msgs / elapsed, msgs * (double)size / elapsed / 1048576.0, histogram.GetValueAtPercentile(50),
                histogram.GetValueAtPercentile(99), msgs == 0 ? double.NaN : alloc / (double)msgs);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
