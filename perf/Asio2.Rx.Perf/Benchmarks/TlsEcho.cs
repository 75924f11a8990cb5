using System.Globalization;

using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// TLS echo under load: a plain <c>SslStream</c> echo that writes back each read (the baseline) and the Asio2.Rx
/// <see cref="TcpServer"/> with <see cref="TcpServerOptions.Tls"/> and datagram framing (echoing frame by frame), each
/// run in a child process pinned to one core while a load generator pinned to the other keeps
/// <c>--clients</c> x <c>--inflight</c> datagram-framed messages outstanding over <c>SslStream</c> clients. Alternates
/// baseline/asio2 for <c>--pairs</c> pairs and reports the median ratio.
/// </summary>
/// <remarks>
/// Options (defaults): --clients 10, --inflight 100, --size 32, --seconds 10, --warmup 8 (a pinned server needs seconds of load to tier up: a point whose jit count is in the hundreds was not warm), --pairs 3,
/// --scheduler default|immediate|eventloop|lean|lean-nospin (Asio2.Rx session scheduler; eventloop: Rx's EventLoopScheduler per core, the pool before its loops became socket engines; lean: a minimal event loop, an ablation; lean-nospin: the same without spinning before it sleeps), --inline-completions (server side), --base PATH (another build's Asio2.Rx.Perf: adds its Asio2.Rx server to every pair, a before/after in one run), --server-env K=V[,K=V]
/// (extra environment of the server children, for ablations such as DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0), --server-cpu 0,
/// --load-cpu 1, --no-pin. Both servers present the same ECDSA P-256 certificate and negotiate TLS 1.3
/// (TLS_AES_256_GCM_SHA384), so the crypto work is identical and the ratio is the cost of everything else.
/// </remarks>
internal sealed class TlsEcho : IBenchmark
{
    public string Name => "tls-echo";

    public string Description => "TLS echo load: plain SslStream echo vs Asio2.Rx TcpServer+TLS (datagram framing), pinned, alternating";

    public Task<int> RunAsync(PerfArgs args) => args.String("role", "") switch
    {
        "server" => TlsEchoServerRole.RunAsync(args),
        "load" => TlsEchoLoadRole.RunAsync(args),
        "" => OrchestrateAsync(args),
        var r => throw new ArgumentException($"unknown --role '{r}'"),
    };

    private sealed record Config(int Clients, int Inflight, int Size, int Seconds, int Warmup, int Pairs, string Scheduler,
        bool Inline, int? ServerCpu, int? LoadCpu, Dictionary<string, string?> ServerEnv, string? Base)
    {
        /// <summary>The servers of each pair: with <c>--base</c>, also the Asio2.Rx server of another build (before/after in one run).</summary>
        public string[] Impls => Base is null ? ["baseline", "asio2"] : ["baseline", "asio2", "asio2-base"];
    }

    private sealed record Point(string Impl, double MsgsPerSec, double MibPerSec, double P50Us, double P99Us, double P999Us,
        double AllocPerMsg, double ServerCpuPercent, double ServerNsPerMsg, double LoadCpuPercent, long JitMethods, string Failed);

    private static async Task<int> OrchestrateAsync(PerfArgs args)
    {
        bool pin = !args.Flag("no-pin") && RoleProcess.CanPin;
        var c = new Config(
            args.Int("clients", 10), args.Int("inflight", 100), args.Int("size", 32), args.Int("seconds", 10), args.Int("warmup", 8),
            args.Int("pairs", 3), args.String("scheduler", "default"), args.Flag("inline-completions"),
            pin ? args.Int("server-cpu", 0) : null, pin ? args.Int("load-cpu", 1) : null, RoleProcess.ServerEnvironment(args),
            args.String("base", "") is { Length: > 0 } b ? Path.GetFullPath(b) : null);
        var impls = c.Impls;
        Console.WriteLine($"tls-echo: {c.Clients} clients x {c.Inflight} in flight x {c.Size} B over TLS, datagram framing, " +
                          $"{c.Warmup} s warm-up + {c.Seconds} s counted per point, {c.Pairs} pairs of {string.Join(" ", impls)}");
        Console.WriteLine($"  server: cpu {c.ServerCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, inline completions " +
                          $"{(c.Inline ? "on" : "off")}, Asio2.Rx scheduler={c.Scheduler}, workstation non-concurrent GC (project setting)" +
                          (c.ServerEnv.Count > 1 ? ", env " + RoleProcess.Describe(c.ServerEnv) : ""));
        Console.WriteLine($"  load:   cpu {c.LoadCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, inline completions on");
        Console.WriteLine($"  machine: {MachineInfo.Describe()}, commit {MachineInfo.GitCommit()}");

        var points = new List<Point>();
        for (int pair = 1; pair <= c.Pairs; pair++)
        {
            foreach (var impl in impls)
            {
                var p = await RunPointAsync(impl, c).ConfigureAwait(false);
                points.Add(p);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  pair {pair} {impl,-8} {p.MsgsPerSec,11:N0} msg/s {p.MibPerSec,7:F1} MiB/s  p50 {p.P50Us,7:F0} us  p99 {p.P99Us,7:F0} us  " +
                    $"p99.9 {p.P999Us,7:F0} us  alloc {p.AllocPerMsg,6:F1} B/msg  server cpu {p.ServerCpuPercent,3:F0}% {p.ServerNsPerMsg,6:F0} ns/msg  load cpu {p.LoadCpuPercent,3:F0}%  jit {p.JitMethods}{(p.Failed == "no" ? "" : "  FAILED " + p.Failed)}"));
            }
        }

        Console.WriteLine("medians:");
        var medians = new Dictionary<string, Point>();
        foreach (var i in impls)
        {
            var mine = points.Where(p => p.Impl == i).ToList();
            double M(Func<Point, double> f) => Median(mine.Select(f).ToList());
            var m = new Point(i, M(p => p.MsgsPerSec), M(p => p.MibPerSec), M(p => p.P50Us), M(p => p.P99Us), M(p => p.P999Us),
                M(p => p.AllocPerMsg), M(p => p.ServerCpuPercent), M(p => p.ServerNsPerMsg), M(p => p.LoadCpuPercent), 0, "no");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {i,-8} {m.MsgsPerSec,11:N0} msg/s {m.MibPerSec,7:F1} MiB/s  p50 {m.P50Us,7:F0} us  p99 {m.P99Us,7:F0} us  p99.9 {m.P999Us,7:F0} us  " +
                $"alloc {m.AllocPerMsg,6:F1} B/msg  server cpu {m.ServerCpuPercent,3:F0}% {m.ServerNsPerMsg,6:F0} ns/msg  load cpu {m.LoadCpuPercent,3:F0}%"));
            medians[i] = m;
        }
        var ratios = points.Where(p => p.Impl == "baseline").Zip(points.Where(p => p.Impl == "asio2"), (a, b) => b.MsgsPerSec / a.MsgsPerSec).ToList();
        double ratio = Median(ratios);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  ratio asio2/baseline by pair: {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {ratio:F3}"));
        // Throughput per unit of server CPU, pair by pair: steadier than msg/s when neighbours take part of the server's core.
        var cpuRatios = points.Where(p => p.Impl == "baseline").Zip(points.Where(p => p.Impl == "asio2"), (a, b) => a.ServerNsPerMsg / b.ServerNsPerMsg).ToList();
        double cpuRatio = Median(cpuRatios);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  cpu ratio (baseline ns/msg / asio2 ns/msg) by pair: {string.Join(" ", cpuRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {cpuRatio:F3}"));
        string baseKeys = "";
        if (c.Base is not null)
        {
            var baseRatios = points.Where(p => p.Impl == "baseline").Zip(points.Where(p => p.Impl == "asio2-base"), (a, b) => b.MsgsPerSec / a.MsgsPerSec).ToList();
            var baseCpu = points.Where(p => p.Impl == "baseline").Zip(points.Where(p => p.Impl == "asio2-base"), (a, b) => a.ServerNsPerMsg / b.ServerNsPerMsg).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  asio2-base ({c.Base}): ratio by pair {string.Join(" ", baseRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {Median(baseRatios):F3}; " +
                $"cpu ratio by pair {string.Join(" ", baseCpu.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {Median(baseCpu):F3}"));
            baseKeys = string.Create(CultureInfo.InvariantCulture, $"base_ratio={Median(baseRatios):F3} base_cpu_ratio={Median(baseCpu):F3} ");
        }
        var main = medians["asio2"];
        var baseline = medians["baseline"];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT tls-echo msgs_per_s={main.MsgsPerSec:F0} ratio={ratio:F3} cpu_ratio={cpuRatio:F3} {baseKeys}baseline_msgs_per_s={baseline.MsgsPerSec:F0} " +
            $"ns_per_msg={main.ServerNsPerMsg:F0} baseline_ns_per_msg={baseline.ServerNsPerMsg:F0} " +
            $"mib_per_s={main.MibPerSec:F1} p50_us={main.P50Us:F0} p99_us={main.P99Us:F0} p999_us={main.P999Us:F0} alloc_per_msg={main.AllocPerMsg:F1} " +
            $"baseline_p50_us={baseline.P50Us:F0} baseline_p99_us={baseline.P99Us:F0} baseline_alloc_per_msg={baseline.AllocPerMsg:F1} " +
            $"clients={c.Clients} inflight={c.Inflight} size={c.Size} scheduler={c.Scheduler} inline_completions={(c.Inline ? 1 : 0)} " +
            $"pinned={(c.ServerCpu is null ? 0 : 1)} pairs={c.Pairs} seconds={c.Seconds}"));
        return points.Any(p => p.Failed != "no") ? 1 : 0;
    }

    private static async Task<Point> RunPointAsync(string impl, Config c)
    {
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        bool isBase = impl == "asio2-base";
        await using var server = RoleProcess.Start($"{impl} server", c.ServerCpu,
            ["tls-echo", "--role", "server", "--impl", isBase ? "asio2" : impl, "--scheduler", c.Scheduler],
            c.ServerEnv, isBase ? c.Base : null);
        string ready = await server.ExpectAsync("PORT ").ConfigureAwait(false);
        int port = int.Parse(ready.Split(' ')[1], CultureInfo.InvariantCulture);
        await using var load = RoleProcess.Start("load", c.LoadCpu,
            ["tls-echo", "--role", "load", "--port", I(port), "--clients", I(c.Clients), "--inflight", I(c.Inflight), "--size", I(c.Size)],
            new Dictionary<string, string?> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1" });
        await load.ExpectAsync("READY").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(c.Warmup)).ConfigureAwait(false);

        await server.SendAsync("mark").ConfigureAwait(false);
        var before = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false));
        await load.SendAsync("start").ConfigureAwait(false);
        await load.ExpectAsync("STARTED").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(c.Seconds)).ConfigureAwait(false);
        await load.SendAsync("stop").ConfigureAwait(false);
        var result = KeyValues(await load.ExpectAsync("LOAD ").ConfigureAwait(false));
        await server.SendAsync("mark").ConfigureAwait(false);
        var cost = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false)) - before;

        long msgs = long.Parse(result["msgs"], CultureInfo.InvariantCulture);
        double seconds = long.Parse(result["elapsed_ns"], CultureInfo.InvariantCulture) / 1e9;
        double serverSeconds = cost.TimestampNs / 1e9;
        return new Point(
            impl,
            msgs / seconds,
            msgs * (double)c.Size / seconds / (1024 * 1024),
            long.Parse(result["p50_ns"], CultureInfo.InvariantCulture) / 1e3,
            long.Parse(result["p99_ns"], CultureInfo.InvariantCulture) / 1e3,
            long.Parse(result["p999_ns"], CultureInfo.InvariantCulture) / 1e3,
            msgs > 0 ? (double)cost.AllocatedBytes / msgs : double.NaN,
            cost.CpuPercent,
            msgs > 0 ? cost.CpuNs / (double)msgs * (seconds / serverSeconds) : double.NaN,
            100 * long.Parse(result["cpu_ns"], CultureInfo.InvariantCulture) / 1e9 / seconds,
            cost.JitMethods,
            result["failed"]);
    }

    /// <summary>"WORD k=v k=v ..." to a dictionary.</summary>
    private static Dictionary<string, string> KeyValues(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(kv => kv.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "");

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        values = [.. values]; // sorted copy: callers print theirs in pair order
        values.Sort();
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
