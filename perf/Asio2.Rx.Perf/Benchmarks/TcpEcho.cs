using System.Globalization;
using Asio2.Rx.Perf.Echo;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// TCP echo under load: a plain-<c>Socket</c> echo (A, the baseline) and the Asio2.Rx <see cref="TcpServer"/> (B) are each
/// run in a child process pinned to one core while a load generator pinned to the other keeps
/// <c>--clients</c> x <c>--inflight</c> datagram-framed messages outstanding, alternating A B A B for <c>--pairs</c> pairs.
/// </summary>
/// <remarks>
/// Options (defaults): --clients 100, --inflight 1000, --size 32, --seconds 10, --warmup 8 (a pinned, saturated server needs that long to finish tiering up), --pairs 3,
/// --framing datagram|raw, --scheduler default|immediate|lean|loops:N (lean: a minimal event loop, an ablation), --subscribe selectmany|per-session,
/// --inline-completions (server side; the generator always uses them unless --load-inline false), --buffer 16384
/// (receive buffer of both servers), --server-cpu 0, --load-cpu 1, --no-pin, --impls baseline,asio2,
/// --server-env K=V[,K=V] (extra environment of the server child, e.g. DOTNET_TieredPGO=0), --perf-stat (count the server's
/// syscalls and context switches in the window with Linux perf: messages per read, per write, per futex).
/// </remarks>
internal sealed class TcpEcho : IBenchmark
{
    public string Name => "tcp-echo";

    public string Description => "TCP echo load: plain Socket echo vs Asio2.Rx TcpServer (datagram framing), pinned, alternating";

    public Task<int> RunAsync(PerfArgs args) => args.String("role", "") switch
    {
        "server" => EchoServerRole.RunAsync(args),
        "load" => EchoLoadRole.RunAsync(args),
        "" => OrchestrateAsync(args),
        var r => throw new ArgumentException($"unknown --role '{r}'"),
    };

    private sealed record Config(
        int Clients, int Inflight, int Size, int Seconds, int Warmup, int Pairs, string Framing, string Scheduler,
        string Subscribe, bool Inline, bool LoadInline, int Buffer, int? ServerCpu, int? LoadCpu, string[] Impls,
        Dictionary<string, string?> ServerEnv, bool PerfStat);

    private sealed record Point(
        string Impl, double MsgsPerSec, double MibPerSec, double P50Us, double P99Us, double P999Us, double AllocPerMsg,
        double ServerCpuPercent, double ServerNsPerMsg, double LoadCpuPercent, int Gen0, int Gen1, int Gen2, long JitMethods, string Failed, string Syscalls = "", double FairMin = 0, double FairMax = 0);

    private static async Task<int> OrchestrateAsync(PerfArgs args)
    {
        bool pin = !args.Flag("no-pin") && RoleProcess.CanPin;
        var serverEnv = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = args.Flag("inline-completions") ? "1" : null,
        };
        foreach (var kv in args.String("server-env", "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"--server-env wants KEY=VALUE, got '{kv}'");
            serverEnv[kv[..eq]] = kv[(eq + 1)..];
        }
        var c = new Config(
            args.Int("clients", 100), args.Int("inflight", 1000), args.Int("size", 32), args.Int("seconds", 10),
            args.Int("warmup", 8), args.Int("pairs", 3), args.String("framing", "datagram"), args.String("scheduler", "default"),
            args.String("subscribe", "selectmany"), args.Flag("inline-completions"), args.String("load-inline", "true") != "false",
            args.Int("buffer", 16 * 1024), pin ? args.Int("server-cpu", 0) : null, pin ? args.Int("load-cpu", 1) : null,
            args.String("impls", "baseline,asio2").Split(',', StringSplitOptions.RemoveEmptyEntries), serverEnv, args.Flag("perf-stat"));

        Console.WriteLine($"tcp-echo: {c.Clients} clients x {c.Inflight} in flight x {c.Size} B, framing={c.Framing}, " +
                          $"{c.Warmup} s warm-up + {c.Seconds} s counted per point, {c.Pairs} pairs of {string.Join(" ", c.Impls)}");
        Console.WriteLine($"  server: cpu {(c.ServerCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned")}, inline completions {(c.Inline ? "on" : "off")}, " +
                          $"Asio2.Rx scheduler={c.Scheduler} subscribe={c.Subscribe}, receive buffer {c.Buffer} B" +
                          (c.ServerEnv.Count > 1 ? ", env " + string.Join(" ", c.ServerEnv.Where(e => e.Value is not null).Select(e => $"{e.Key}={e.Value}")) : ""));
        Console.WriteLine($"  load:   cpu {(c.LoadCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned")}, inline completions {(c.LoadInline ? "on" : "off")}");
        Console.WriteLine($"  machine: {Environment.ProcessorCount} cpus, {MachineInfo.CpuModel()}, .NET {Environment.Version}, commit {MachineInfo.GitCommit()}");

        var points = new List<Point>();
        for (int pair = 1; pair <= c.Pairs; pair++)
        {
            foreach (var impl in c.Impls)
            {
                var p = await RunPointAsync(impl, c).ConfigureAwait(false);
                points.Add(p);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, 
                    $"  pair {pair} {impl,-8} {p.MsgsPerSec,12:N0} msg/s {p.MibPerSec,8:F1} MiB/s  p50 {p.P50Us,8:F0} us  p99 {p.P99Us,8:F0} us  " +
                    $"p99.9 {p.P999Us,8:F0} us  alloc {p.AllocPerMsg,7:F1} B/msg  server cpu {p.ServerCpuPercent,3:F0}% {p.ServerNsPerMsg,6:F0} ns/msg  " +
                    $"load cpu {p.LoadCpuPercent,3:F0}%  gc {p.Gen0}/{p.Gen1}/{p.Gen2}  jit {p.JitMethods}  clients {p.FairMin:F2}..{p.FairMax:F2}x{(p.Failed == "no" ? "" : "  FAILED " + p.Failed)}"));
                if (p.Syscalls.Length > 0) Console.WriteLine($"         {p.Syscalls}");
            }
        }
        return Summarize(c, points);
    }

    private static int Summarize(Config c, List<Point> points)
    {
        Console.WriteLine("medians:");
        var medians = new Dictionary<string, Point>();
        foreach (var impl in c.Impls)
        {
            var mine = points.Where(p => p.Impl == impl).ToList();
            var m = new Point(impl, Median(mine, p => p.MsgsPerSec), Median(mine, p => p.MibPerSec), Median(mine, p => p.P50Us),
                Median(mine, p => p.P99Us), Median(mine, p => p.P999Us), Median(mine, p => p.AllocPerMsg), Median(mine, p => p.ServerCpuPercent),
                Median(mine, p => p.ServerNsPerMsg), Median(mine, p => p.LoadCpuPercent), 0, 0, 0, 0, "no");
            medians[impl] = m;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, 
                $"  {impl,-8} {m.MsgsPerSec,12:N0} msg/s {m.MibPerSec,8:F1} MiB/s  p50 {m.P50Us,8:F0} us  p99 {m.P99Us,8:F0} us  p99.9 {m.P999Us,8:F0} us  " +
                $"alloc {m.AllocPerMsg,7:F1} B/msg  server cpu {m.ServerCpuPercent,3:F0}% {m.ServerNsPerMsg,6:F0} ns/msg  load cpu {m.LoadCpuPercent,3:F0}%"));
        }
        double ratio = double.NaN, cpuRatio = double.NaN;
        if (medians.ContainsKey("baseline") && medians.ContainsKey("asio2"))
        {
            var a = points.Where(p => p.Impl == "baseline").ToList();
            var b = points.Where(p => p.Impl == "asio2").ToList();
            var ratios = a.Zip(b, (x, y) => y.MsgsPerSec / x.MsgsPerSec).ToList();
            ratio = MedianOf(ratios);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ratio asio2/baseline by pair: {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {ratio:F3}"));
            // Throughput per unit of server CPU: what the ratio would be if both servers had their core to themselves.
            var cpuRatios = a.Zip(b, (x, y) => x.ServerNsPerMsg / y.ServerNsPerMsg).ToList();
            cpuRatio = MedianOf(cpuRatios);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cpu ratio (baseline ns/msg / asio2 ns/msg) by pair: {string.Join(" ", cpuRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}  median {cpuRatio:F3}"));
        }
        var main = medians.GetValueOrDefault("asio2") ?? medians.Values.First();
        var baseline = medians.GetValueOrDefault("baseline");
        bool failed = points.Any(p => p.Failed != "no");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, 
            $"RESULT tcp-echo msgs_per_s={main.MsgsPerSec:F0} ratio={ratio:F3} baseline_msgs_per_s={baseline?.MsgsPerSec ?? double.NaN:F0} cpu_ratio={cpuRatio:F3} " +
            $"ns_per_msg={main.ServerNsPerMsg:F0} baseline_ns_per_msg={baseline?.ServerNsPerMsg ?? double.NaN:F0} " +
            $"mib_per_s={main.MibPerSec:F1} p50_us={main.P50Us:F0} p99_us={main.P99Us:F0} p999_us={main.P999Us:F0} alloc_per_msg={main.AllocPerMsg:F1} " +
            $"baseline_p50_us={baseline?.P50Us ?? double.NaN:F0} baseline_p99_us={baseline?.P99Us ?? double.NaN:F0} " +
            $"clients={c.Clients} inflight={c.Inflight} size={c.Size} framing={c.Framing} scheduler={c.Scheduler} subscribe={c.Subscribe} " +
            $"inline_completions={(c.Inline ? 1 : 0)} pinned={(c.ServerCpu is null ? 0 : 1)} pairs={c.Pairs} seconds={c.Seconds}"));
        return failed ? 1 : 0;
    }

    private static async Task<Point> RunPointAsync(string impl, Config c)
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        await using var server = RoleProcess.Start($"{impl} server", c.ServerCpu,
            ["tcp-echo", "--role", "server", "--impl", impl, "--framing", c.Framing, "--scheduler", c.Scheduler, "--subscribe", c.Subscribe, "--buffer", I(c.Buffer)],
            c.ServerEnv);
        string ready = await server.ExpectAsync("PORT ").ConfigureAwait(false);
        int port = int.Parse(ready.Split(' ')[1], CultureInfo.InvariantCulture);
        Console.WriteLine($"    server pid {server.Id}: {ready}");
        await using var load = RoleProcess.Start("load", c.LoadCpu,
            ["tcp-echo", "--role", "load", "--port", I(port), "--clients", I(c.Clients), "--inflight", I(c.Inflight), "--size", I(c.Size)],
            new Dictionary<string, string?> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = c.LoadInline ? "1" : null });
        await load.ExpectAsync("READY").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(c.Warmup)).ConfigureAwait(false);

        await server.SendAsync("mark").ConfigureAwait(false);
        await load.SendAsync("start").ConfigureAwait(false);
        var perfStat = c.PerfStat ? PerfStat.Start(server.Id, c.Seconds) : null;
        var before = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false));
        await load.ExpectAsync("STARTED").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(c.Seconds)).ConfigureAwait(false);
        await server.SendAsync("mark").ConfigureAwait(false);
        await load.SendAsync("stop").ConfigureAwait(false);
        var cost = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false)) - before;
        var result = KeyValues.Parse(await load.ExpectAsync("LOAD ").ConfigureAwait(false));

        long msgs = result.Long("msgs");
        string syscalls = "";
        if (perfStat is not null)
        {
            var k = await perfStat.ResultAsync().ConfigureAwait(false);
            double per(string e) => k.TryGetValue(e, out var v) && v > 0 ? msgs * (c.Seconds * 1e9 / result.Long("elapsed_ns")) / v : double.NaN;
            syscalls = string.Create(CultureInfo.InvariantCulture,
                $"msgs per read {per("recvfrom"):F1}  per write {per("sendto"):F1}  per futex {per("futex"):F1}  per epoll_wait {per("epoll_wait"):F1}  per context switch {per("context-switches"):F1}");
        }
        double seconds = result.Long("elapsed_ns") / 1e9;
        double perMsg(long v) => msgs > 0 ? (double)v / msgs : double.NaN;
        return new Point(
            impl,
            msgs / seconds,
            msgs * (double)c.Size / seconds / (1024 * 1024),
            result.Long("p50_ns") / 1e3,
            result.Long("p99_ns") / 1e3,
            result.Long("p999_ns") / 1e3,
            perMsg(cost.AllocatedBytes),
            cost.CpuPercent,
            perMsg(cost.CpuNs),
            100.0 * result.Long("cpu_ns") / result.Long("elapsed_ns"),
            cost.Gen0, cost.Gen1, cost.Gen2, cost.JitMethods,
            result.String("failed"),
            syscalls,
            result.Double("fair_min"),
            result.Double("fair_max"));
    }

    private static double Median(List<Point> points, Func<Point, double> value) => MedianOf(points.Select(value).ToList());

    private static double MedianOf(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        values = [.. values]; // sorted copy: callers print theirs in pair order
        values.Sort();
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
