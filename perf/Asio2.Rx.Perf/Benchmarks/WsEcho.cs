using System.Globalization;

using Asio2.Rx.Perf.Support;
using Asio2.Rx.Perf.Web;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// WebSocket echo under load: Asio2.Rx's <see cref="WebSocketServer"/> (one subscription per session, <c>Send</c> per
/// message) against Kestrel's WebSocket echo (<c>UseWebSockets</c> + a <c>ReceiveAsync</c>/<c>SendAsync</c> loop), each in
/// a child process pinned to one core, driven by the same raw-socket load generator (<see cref="WsLoadRole"/>) pinned to the
/// other: N connections x M binary messages in flight, alternating.
/// </summary>
/// <remarks>
/// Options (defaults): --points 1x100x32,100x100x32 (connections x in flight x payload bytes), --seconds 10, --warmup 2,
/// --server-warmup 10 (per server, once, at the last point), --pairs 3, --inline-completions (servers), --server-env K=V[,K=V],
/// --server-cpu 0, --load-cpu 1, --no-pin.
/// </remarks>
internal sealed class WsEcho : IBenchmark
{
    public string Name => "ws-echo";

    public string Description => "WebSocket echo load: Asio2.Rx WebSocketServer vs Kestrel UseWebSockets echo, same raw-socket generator, pinned, alternating";

    private static readonly string[] Impls = ["asio2rx", "kestrel"];

    public Task<int> RunAsync(PerfArgs args) => args.String("role", "") switch
    {
        "server" => WebServerRole.RunAsync(args),
        "load" => WsLoadRole.RunAsync(args),
        "" => OrchestrateAsync(args),
        var r => throw new ArgumentException($"unknown --role '{r}'"),
    };

    private sealed record Config(string[] Points, int Seconds, int Warmup, int ServerWarmup, int Pairs, int? ServerCpu, int? LoadCpu,
        Dictionary<string, string?> ServerEnv);

    private sealed record Point(string Impl, string At, double MsgsPerSec, double P50Us, double P99Us, double P999Us, double AllocPerMsg,
        double ServerCpuPercent, double NsPerMsg, double LoadCpuPercent, long Jit, double FairMin, double FairMax, string Failed);

    private static async Task<int> OrchestrateAsync(PerfArgs args)
    {
        bool pin = !args.Flag("no-pin") && RoleProcess.CanPin;
        var c = new Config(args.String("points", "1x100x32,100x100x32").Split(','), args.Int("seconds", 10), args.Int("warmup", 2),
            args.Int("server-warmup", 10), args.Int("pairs", 3), pin ? args.Int("server-cpu", 0) : null, pin ? args.Int("load-cpu", 1) : null,
            RoleProcess.ServerEnvironment(args));
        Console.WriteLine($"ws-echo: points {string.Join(" ", c.Points)} (connections x in flight x bytes, binary messages), {c.Warmup} s warm-up + " +
                          $"{c.Seconds} s counted per point, {c.Pairs} rounds of {string.Join(" ", Impls)} (order reversed every other round)");
        Console.WriteLine($"  servers: cpu {c.ServerCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, workstation non-concurrent GC (project setting)" +
                          (RoleProcess.Describe(c.ServerEnv) is { Length: > 0 } env ? ", env " + env : ", inline completions off"));
        Console.WriteLine($"  load:    cpu {c.LoadCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, raw sockets masking each frame, inline completions on");
        Console.WriteLine($"  machine: {MachineInfo.Describe()}, commit {MachineInfo.GitCommit()}");

        var servers = new Dictionary<string, (RoleProcess Process, int Port)>();
        var points = new List<Point>();
        try
        {
            foreach (var impl in Impls)
            {
                var process = RoleProcess.Start($"{impl} server", c.ServerCpu, ["ws-echo", "--role", "server", "--impl", impl, "--app", "ws"], c.ServerEnv);
                string ready = await process.ExpectAsync("PORT ").ConfigureAwait(false);
                Console.WriteLine($"  {impl}: {ready}");
                servers[impl] = (process, int.Parse(ready.Split(' ')[1], CultureInfo.InvariantCulture));
            }
            foreach (var impl in Impls)
                await RunPointAsync(c, impl, servers[impl].Process, servers[impl].Port, c.Points[^1], c.ServerWarmup).ConfigureAwait(false);

            for (int round = 1; round <= c.Pairs; round++)
            {
                foreach (var at in c.Points)
                {
                    var order = round % 2 == 1 ? Impls : Impls.Reverse().ToArray();
                    foreach (var impl in order)
                    {
                        var p = await RunPointAsync(c, impl, servers[impl].Process, servers[impl].Port, at, c.Warmup).ConfigureAwait(false);
                        points.Add(p);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  round {round} {at,-11} {impl,-8} {p.MsgsPerSec,11:N0} msg/s  p50 {p.P50Us,8:F0} us  p99 {p.P99Us,8:F0} us  p99.9 {p.P999Us,8:F0} us  " +
                            $"alloc {p.AllocPerMsg,6:F1} B/msg  server cpu {p.ServerCpuPercent,3:F0}% {p.NsPerMsg,6:F0} ns/msg  load cpu {p.LoadCpuPercent,3:F0}%  " +
                            $"clients {p.FairMin:F2}..{p.FairMax:F2}  jit {p.Jit}{(p.Failed == "no" ? "" : "  FAILED " + p.Failed)}"));
                    }
                }
            }
        }
        finally
        {
            foreach (var (process, _) in servers.Values) await process.DisposeAsync().ConfigureAwait(false);
        }

        Console.WriteLine("medians (ratio = asio2rx / kestrel msg/s, each the median of the rounds' ratios; cpu ratio = kestrel ns/msg / asio2rx ns/msg):");
        var summary = new List<string>();
        double minRatio = double.MaxValue, minCpuRatio = double.MaxValue, firstRate = double.NaN;
        foreach (var at in c.Points)
        {
            foreach (var impl in Impls)
            {
                var mine = points.Where(p => p.Impl == impl && p.At == at).ToList();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {at,-11} {impl,-8} {Median(mine.Select(p => p.MsgsPerSec)),11:N0} msg/s  p50 {Median(mine.Select(p => p.P50Us)),8:F0} us  " +
                    $"p99 {Median(mine.Select(p => p.P99Us)),8:F0} us  alloc {Median(mine.Select(p => p.AllocPerMsg)),6:F1} B/msg  " +
                    $"server cpu {Median(mine.Select(p => p.ServerCpuPercent)),3:F0}% {Median(mine.Select(p => p.NsPerMsg)),6:F0} ns/msg"));
            }
            var asio = points.Where(p => p.Impl == "asio2rx" && p.At == at).ToList();
            var kestrel = points.Where(p => p.Impl == "kestrel" && p.At == at).ToList();
            var ratios = asio.Zip(kestrel, (a, k) => a.MsgsPerSec / k.MsgsPerSec).ToList();
            var cpuRatios = asio.Zip(kestrel, (a, k) => k.NsPerMsg / a.NsPerMsg).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {at,-11} ratio by round {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))} median {Median(ratios):F3}; " +
                $"cpu ratio by round {string.Join(" ", cpuRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))} median {Median(cpuRatios):F3}"));
            string key = at.Split('x')[0];
            double rate = Median(asio.Select(p => p.MsgsPerSec));
            if (double.IsNaN(firstRate)) firstRate = rate;
            minRatio = Math.Min(minRatio, Median(ratios));
            minCpuRatio = Math.Min(minCpuRatio, Median(cpuRatios));
            summary.Add(string.Create(CultureInfo.InvariantCulture,
                $"msgs_per_s_{key}={rate:F0} ratio_{key}={Median(ratios):F3} cpu_ratio_{key}={Median(cpuRatios):F3} " +
                $"kestrel_msgs_per_s_{key}={Median(kestrel.Select(p => p.MsgsPerSec)):F0} alloc_per_msg_{key}={Median(asio.Select(p => p.AllocPerMsg)):F1} " +
                $"p99_us_{key}={Median(asio.Select(p => p.P99Us)):F0}"));
        }
        // msgs_per_s is the first point's; ratio and cpu_ratio the minimum over the points.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT ws-echo msgs_per_s={firstRate:F0} ratio={minRatio:F3} cpu_ratio={minCpuRatio:F3} {string.Join(" ", summary)} " +
            $"pinned={(c.ServerCpu is null ? 0 : 1)} rounds={c.Pairs} seconds={c.Seconds}"));
        return points.Any(p => p.Failed != "no") ? 1 : 0;
    }

    private static async Task<Point> RunPointAsync(Config c, string impl, RoleProcess server, int port, string at, int warmup)
    {
        var parts = at.Split('x');
        if (parts.Length != 3) throw new ArgumentException($"a point is connections x in flight x bytes, e.g. 100x100x32; got '{at}'");
        await using var load = RoleProcess.Start("load", c.LoadCpu,
            ["ws-echo", "--role", "load", "--port", port.ToString(CultureInfo.InvariantCulture), "--clients", parts[0], "--inflight", parts[1], "--size", parts[2]],
            new Dictionary<string, string?> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1" });
        await load.ExpectAsync("READY").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(warmup)).ConfigureAwait(false);
        await server.SendAsync("mark").ConfigureAwait(false);
        var before = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false));
        await load.SendAsync("start").ConfigureAwait(false);
        await load.ExpectAsync("STARTED").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(c.Seconds)).ConfigureAwait(false);
        await load.SendAsync("stop").ConfigureAwait(false);
        var r = KeyValues.Parse(await load.ExpectAsync("LOAD ").ConfigureAwait(false));
        await server.SendAsync("mark").ConfigureAwait(false);
        var cost = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false)) - before;
        long msgs = r.Long("msgs");
        double seconds = r.Long("elapsed_ns") / 1e9;
        double perMsg = Math.Max(1, msgs);
        // The server's marks bracket the load's window with a little more: scale its CPU to the window.
        double window = seconds / (cost.TimestampNs / 1e9);
        return new Point(impl, at, msgs / seconds, r.Long("p50_ns") / 1e3, r.Long("p99_ns") / 1e3, r.Long("p999_ns") / 1e3,
            cost.AllocatedBytes * window / perMsg, cost.CpuPercent, cost.CpuNs * window / perMsg, 100 * r.Long("cpu_ns") / 1e9 / seconds, cost.JitMethods,
            r.Double("fair_min"), r.Double("fair_max"), r.String("failed"));
    }

    private static double Median(IEnumerable<double> source)
    {
        var values = source.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToList();
        if (values.Count == 0) return double.NaN;
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
