using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using Asio2.Rx.Perf.Support;
using HdrHistogram;
using StreamJsonRpc;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// Pipelined <c>add(int, int)</c> calls over TCP on loopback: Asio2.Rx MessagePack-RPC (<see cref="RpcServer"/> /
/// <see cref="RpcClient"/>, the MessagePack-object framing) against StreamJsonRpc (its MessagePack formatter and
/// length-header framing), server and clients in one process, the same load, alternating A B A B.
/// </summary>
/// <remarks>
/// Each connection keeps <c>--depth</c> calls in flight: a worker awaits its call (the idiomatic
/// <c>await client.Call&lt;int&gt;(...)</c> and <c>await rpc.InvokeAsync&lt;int&gt;(...)</c>) and issues the next. Every
/// round trip goes into a histogram. Options (defaults): --seconds 5 per point, --pairs 3, --depth 32, --warmup 2.
/// </remarks>
internal sealed class RpcCalls : IBenchmark
{
    public string Name => "rpc-calls";

    public string Description => "pipelined add(int,int) calls/s and p99 on 1 and 16 connections: Asio2.Rx MessagePack-RPC vs StreamJsonRpc (MessagePack)";

    private sealed record Point(string Impl, int Connections, double CallsPerSecond, double P50Us, double P99Us, double AllocPerCall);

    public async Task<int> RunAsync(PerfArgs args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        int seconds = args.Int("seconds", 5), pairs = args.Int("pairs", 3), depth = args.Int("depth", 32), warmup = args.Int("warmup", 2);
        Console.WriteLine($"rpc-calls: {seconds} s per point, {pairs} pairs, {depth} calls in flight per connection, commit {MachineInfo.GitCommit()}, " +
                          $"{MachineInfo.CpuModel()}, {Environment.ProcessorCount} cores, GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");
        var summary = new List<string>();
        double minRatio = double.MaxValue;
        double asio2CallsAt1 = 0;
        foreach (int connections in new[] { 1, 16 })
        {
            // Warm-up of both, not counted.
            await RunAsio2(connections, depth, warmup);
            await RunStreamJsonRpc(connections, depth, warmup);
            var ratios = new List<double>();
            var mine = new List<Point>();
            var theirs = new List<Point>();
            for (int pair = 0; pair < pairs; pair++)
            {
                var a = await RunAsio2(connections, depth, seconds);
                var b = await RunStreamJsonRpc(connections, depth, seconds);
                mine.Add(a);
                theirs.Add(b);
                ratios.Add(a.CallsPerSecond / b.CallsPerSecond);
                Print(a);
                Print(b);
                Console.WriteLine($"    pair {pair + 1}: ratio {ratios[^1]:F2}");
            }
            double ratio = Median(ratios);
            minRatio = Math.Min(minRatio, ratio);
            var m = Median(mine);
            var t = Median(theirs);
            if (connections == 1) asio2CallsAt1 = m.CallsPerSecond;
            summary.Add($"calls_per_s_{connections}={m.CallsPerSecond:F0} ratio_{connections}={ratio:F2} p99_us_{connections}={m.P99Us:F0} " +
                        $"sjr_calls_per_s_{connections}={t.CallsPerSecond:F0} sjr_p99_us_{connections}={t.P99Us:F0}");
            Console.WriteLine($"  {connections} connection(s), medians: Asio2.Rx {m.CallsPerSecond:F0} calls/s p99 {m.P99Us:F0} us, " +
                              $"StreamJsonRpc {t.CallsPerSecond:F0} calls/s p99 {t.P99Us:F0} us, ratio {ratio:F2} (target 2.0{(ratio >= 2 ? ", met" : ", NOT met")})");
        }
        Console.WriteLine($"RESULT rpc-calls calls_per_s={asio2CallsAt1:F0} ratio={minRatio:F2} {string.Join(' ', summary)}");
        return 0;
    }

    private static void Print(Point p) =>
        Console.WriteLine($"    {p.Impl,-14} {p.Connections,2} conn  {p.CallsPerSecond,10:F0} calls/s  p50 {p.P50Us,7:F0} us  p99 {p.P99Us,7:F0} us  {p.AllocPerCall,7:F0} B/call");

    private static async Task<Point> RunAsio2(int connections, int depth, int seconds)
    {
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.MessagePackObject(), NoDelay = true });
        new RpcServer(tcp, new RpcOptions { DefaultTimeout = TimeSpan.FromMinutes(1) }).Bind("add", (int a, int b) => a + b);
        var bound = tcp.Start("127.0.0.1", 0);
        var clients = new List<(TcpClient Tcp, RpcClient Rpc)>();
        for (int i = 0; i < connections; i++)
        {
            var client = new TcpClient(new TcpClientOptions { Framing = Framing.MessagePackObject(), NoDelay = true, Reconnect = { Enabled = false } });
            var rpc = new RpcClient(client, new RpcOptions { DefaultTimeout = TimeSpan.FromMinutes(1) });
            await client.Connect(bound).FirstAsync();
            clients.Add((client, rpc));
        }
        var point = await Measure("Asio2.Rx", connections, depth, seconds, c => clients[c].Rpc, static async (rpc, a) => await rpc.Call<int>("add", a, 1));
        foreach (var c in clients) await c.Tcp.DisposeAsync();
        return point;
    }

    private static async Task<Point> RunStreamJsonRpc(int connections, int depth, int seconds)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var servers = new List<JsonRpc>();
        var accepting = Task.Run(async () =>
        {
            for (int i = 0; i < connections; i++)
            {
                var socket = await listener.AcceptAsync();
                socket.NoDelay = true;
                var stream = new NetworkStream(socket, ownsSocket: true);
                var rpc = new JsonRpc(new LengthHeaderMessageHandler(stream, stream, new MessagePackFormatter()));
                rpc.AddLocalRpcMethod("add", new Func<int, int, int>((a, b) => a + b));
                rpc.StartListening();
                lock (servers) servers.Add(rpc);
            }
        });
        var clients = new List<JsonRpc>();
        for (int i = 0; i < connections; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(listener.LocalEndPoint!);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var rpc = new JsonRpc(new LengthHeaderMessageHandler(stream, stream, new MessagePackFormatter()));
            rpc.StartListening();
            clients.Add(rpc);
        }
        await accepting;
        var point = await Measure("StreamJsonRpc", connections, depth, seconds, c => clients[c], static (rpc, a) => rpc.InvokeAsync<int>("add", a, 1));
        foreach (var c in clients) c.Dispose();
        foreach (var s in servers) s.Dispose();
        return point;
    }

    /// <summary>Runs <paramref name="depth"/> call loops per connection for <paramref name="seconds"/>; counts and times each call.</summary>
    private static async Task<Point> Measure<TClient>(string impl, int connections, int depth, int seconds, Func<int, TClient> client,
        Func<TClient, int, Task<int>> call)
    {
        using var stop = new CancellationTokenSource();
        var histograms = new List<LongHistogram>();
        long calls = 0;
        long allocBefore = GC.GetTotalAllocatedBytes(true);
        var watch = Stopwatch.StartNew();
        var workers = new List<Task>();
        for (int c = 0; c < connections; c++)
        {
            var target = client(c);
            for (int w = 0; w < depth; w++)
            {
                var histogram = new LongHistogram(TimeSpan.FromSeconds(10).Ticks, 3);
                histograms.Add(histogram);
                int seed = c * depth + w;
                workers.Add(Task.Run(async () =>
                {
                    int n = seed;
                    while (!stop.IsCancellationRequested)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        int sum = await call(target, n);
                        if (sum != n + 1) throw new InvalidOperationException($"{impl}: add({n}, 1) returned {sum}");
                        histogram.RecordValue(Stopwatch.GetElapsedTime(t0).Ticks);
                        Interlocked.Increment(ref calls);
                        n++;
                    }
                }));
            }
        }
        stop.CancelAfter(TimeSpan.FromSeconds(seconds));
        await Task.WhenAll(workers);
        double elapsed = watch.Elapsed.TotalSeconds;
        long alloc = GC.GetTotalAllocatedBytes(true) - allocBefore;
        var all = new LongHistogram(TimeSpan.FromSeconds(10).Ticks, 3);
        foreach (var h in histograms) all.Add(h);
        const double usPerTick = 1e6 / TimeSpan.TicksPerSecond;
        return new Point(impl, connections, calls / elapsed, all.GetValueAtPercentile(50) * usPerTick, all.GetValueAtPercentile(99) * usPerTick,
            alloc / (double)Math.Max(1, calls));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    private static Point Median(List<Point> points) => points.OrderBy(p => p.CallsPerSecond).ElementAt(points.Count / 2);
}
