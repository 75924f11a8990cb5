using System.Globalization;
using Asio2.Rx.Perf.Echo;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// TCP echo under load, every peer under the same load generator: each server (<see cref="EchoServerRole.Impls"/>) runs in
/// a child process pinned to one core for the whole run, a load generator pinned to the other keeps
/// clients x in-flight datagram-framed messages outstanding, and for each load point the peers are measured in rounds
/// (A B C .. then .. C B A, alternating the order), so every two peers form a pair in every round.
/// </summary>
/// <remarks>
/// Options (defaults): --points 1x100x32,50x100x32,100x1000x32,50x100x1024 (clients x in flight x payload bytes),
/// --impls baseline,pipelines,dotnetty,asio2rx,asio2rx-ps, --seconds 4 (counted per point), --warmup 2 (load before
/// counting, per point), --server-warmup 8 (load once per server process before the first point: a pinned, saturated
/// server needs that long to finish tiering up), --pairs 3 (rounds), --framing datagram|raw (Asio2.Rx only),
/// --scheduler default|immediate|eventloop|lean|lean-nospin|loops:N (Asio2.Rx only; eventloop: Rx's EventLoopScheduler, one
/// per core, as the pool had before its loops became socket engines; lean: a minimal event loop, an ablation;
/// lean-nospin: the same, blocking at once when idle instead of spinning first),
/// --inline-completions (servers; the generator always uses them unless --load-inline false), --buffer 65536
/// (the receive buffer of the baseline and pipelines servers, and Asio2.Rx's ReceiveBufferSize, where its buffer starts
/// before it grows to 64 KiB under load; 64 KiB by default because with 16 KiB reads the fixed-buffer servers fall into a
/// regime where 1 KiB echo runs at a third of the rate with a p99 of ~200 ms), --server-cpu 0, --load-cpu 1, --no-pin,
/// --server-env K=V[,K=V] (extra environment of the server children, e.g. DOTNET_TieredPGO=0), --base PATH (another build's
/// Asio2.Rx.Perf executable: adds the peers asio2rx-base and asio2rx-ps-base, a before/after in one run), --perf-stat (count the
/// server's syscalls and context switches in each window with Linux perf: messages per read, per write, per futex).
/// </remarks>
internal sealed class TcpEcho : IBenchmark
{
    public string Name => "tcp-echo";

    public string Description => "TCP echo load: Socket limit, Pipelines, DotNetty, Asio2.Rx (SelectMany, per-session), datagram framing, pinned, alternating";

    public Task<int> RunAsync(PerfArgs args) => args.String("role", "") switch
    {
        "server" => EchoServerRole.RunAsync(args),
        "load" => EchoLoadRole.RunAsync(args),
        "" => OrchestrateAsync(args),
        var r => throw new ArgumentException($"unknown --role '{r}'"),
    };

    /// <summary>One load: connections, messages in flight on each, payload bytes of each message.</summary>
    private sealed record Load(int Clients, int Inflight, int Size)
    {
        public static Load Parse(string text)
        {
            var p = text.Split('x');
            if (p.Length != 3) throw new ArgumentException($"a point is CLIENTSxINFLIGHTxSIZE, e.g. 50x100x32, not '{text}'");
            return new Load(int.Parse(p[0], CultureInfo.InvariantCulture), int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture));
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Clients}x{Inflight}x{(Size % 1024 == 0 ? $"{Size / 1024}K" : Size)}");
    }

    private sealed record Config(
        Load[] Loads, int Seconds, int Warmup, int ServerWarmup, int Pairs, string Framing, string Scheduler, bool Inline, bool LoadInline,
        int Buffer, int? ServerCpu, int? LoadCpu, string[] Impls, Dictionary<string, string?> ServerEnv, bool PerfStat, string? Base);

    private sealed record Point(
        string Impl, Load Load, int Round, double MsgsPerSec, double MibPerSec, double P50Us, double P99Us, double P999Us, double AllocPerMsg,
        double ServerCpuPercent, double ServerNsPerMsg, double LoadCpuPercent, int Gen0, int Gen1, int Gen2, long JitMethods, string Failed,
        string Syscalls, double FairMin, double FairMax);

    private static readonly string[] Compared = ["asio2rx", "asio2rx-ps"];

    /// <summary>Peers named <c>asio2rx-base</c>, <c>asio2rx-ps-base</c> run the same server from another build (<c>--base</c>).</summary>
    private const string BaseSuffix = "-base";

    private static async Task<int> OrchestrateAsync(PerfArgs args)
    {
        bool pin = !args.Flag("no-pin") && RoleProcess.CanPin;
        var serverEnv = RoleProcess.ServerEnvironment(args);
        var impls = args.String("impls", string.Join(",", EchoServerRole.Impls)).Split(',', StringSplitOptions.RemoveEmptyEntries);
        string? baseBuild = args.String("base", "") is { Length: > 0 } b ? Path.GetFullPath(b) : null;
        string[] known = baseBuild is null ? EchoServerRole.Impls : [.. EchoServerRole.Impls, .. Compared.Select(i => i + BaseSuffix)];
        if (impls.FirstOrDefault(i => !known.Contains(i)) is { } unknown)
            throw new ArgumentException($"unknown impl '{unknown}'; known: {string.Join(",", known)} (the -base peers need --base)");
        var c = new Config(
            args.String("points", "1x100x32,50x100x32,100x1000x32,50x100x1024").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Load.Parse).ToArray(),
            args.Int("seconds", 4), args.Int("warmup", 2), args.Int("server-warmup", 8), args.Int("pairs", 3),
            args.String("framing", "datagram"), args.String("scheduler", "default"), args.Flag("inline-completions"),
            args.String("load-inline", "true") != "false", args.Int("buffer", 64 * 1024),
            pin ? args.Int("server-cpu", 0) : null, pin ? args.Int("load-cpu", 1) : null, impls, serverEnv, args.Flag("perf-stat"), baseBuild);

        Console.WriteLine($"tcp-echo: points {string.Join(" ", c.Loads.Select(l => l.ToString()))} (clients x in flight x payload), framing={c.Framing}, " +
                          $"{c.ServerWarmup} s warm-up per server, then per point {c.Warmup} s warm-up + {c.Seconds} s counted, {c.Pairs} rounds of {string.Join(" ", c.Impls)} (order reversed every other round)");
        Console.WriteLine($"  servers: cpu {(c.ServerCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned")}, inline completions {(c.Inline ? "on" : "off")}, " +
                          $"Asio2.Rx scheduler={c.Scheduler}, receive buffer {c.Buffer} B" +
                          (c.ServerEnv.Count > 1 ? ", env " + RoleProcess.Describe(c.ServerEnv) : ""));
        Console.WriteLine($"  load:    cpu {(c.LoadCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned")}, inline completions {(c.LoadInline ? "on" : "off")}");
        Console.WriteLine($"  machine: {MachineInfo.Describe()}, commit {MachineInfo.GitCommit()}");
        if (c.Base is not null) Console.WriteLine($"  -base peers: {c.Base}");

        // One process per peer for the whole run: an idle server costs nothing, and each is warmed up (tiered up) once.
        var servers = new Dictionary<string, (RoleProcess Process, int Port)>();
        try
        {
            foreach (var impl in c.Impls)
            {
                bool isBase = impl.EndsWith(BaseSuffix, StringComparison.Ordinal);
                var process = RoleProcess.Start($"{impl} server", c.ServerCpu,
                    ["tcp-echo", "--role", "server", "--impl", isBase ? impl[..^BaseSuffix.Length] : impl, "--framing", c.Framing, "--scheduler", c.Scheduler, "--buffer", c.Buffer.ToString(CultureInfo.InvariantCulture)],
                    c.ServerEnv, isBase ? c.Base : null);
                servers[impl] = (process, 0);
                string ready = await process.ExpectAsync("PORT ").ConfigureAwait(false);
                Console.WriteLine($"    server pid {process.Id}: {ready}");
                servers[impl] = (process, int.Parse(ready.Split(' ')[1], CultureInfo.InvariantCulture));
            }
            var heaviest = c.Loads.MaxBy(l => (long)l.Clients * l.Inflight)!;
            foreach (var impl in c.Impls)
            {
                Console.WriteLine($"    warming up {impl} at {heaviest} for {c.ServerWarmup} s");
                await using var load = await StartLoadAsync(servers[impl].Port, heaviest, c).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(c.ServerWarmup)).ConfigureAwait(false);
            }

            var points = new List<Point>();
            foreach (var l in c.Loads)
            {
                for (int round = 1; round <= c.Pairs; round++)
                {
                    foreach (var impl in round % 2 == 1 ? c.Impls : c.Impls.Reverse())
                    {
                        var (server, port) = servers[impl];
                        var p = await RunPointAsync(impl, server, port, l, round, c).ConfigureAwait(false);
                        points.Add(p);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {l,-11} round {round} {impl,-10} {p.MsgsPerSec,12:N0} msg/s {p.MibPerSec,8:F1} MiB/s  p50 {p.P50Us,8:F0} us  p99 {p.P99Us,8:F0} us  " +
                            $"p99.9 {p.P999Us,8:F0} us  alloc {p.AllocPerMsg,7:F1} B/msg  server cpu {p.ServerCpuPercent,3:F0}% {p.ServerNsPerMsg,6:F0} ns/msg  " +
                            $"load cpu {p.LoadCpuPercent,3:F0}%  gc {p.Gen0}/{p.Gen1}/{p.Gen2}  jit {p.JitMethods}  clients {p.FairMin:F2}..{p.FairMax:F2}x{(p.Failed == "no" ? "" : "  FAILED " + p.Failed)}"));
                        if (p.Syscalls.Length > 0) Console.WriteLine($"         {p.Syscalls}");
                    }
                }
            }
            return Summarize(c, points);
        }
        finally
        {
            foreach (var (process, _) in servers.Values) await process.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static int Summarize(Config c, List<Point> points)
    {
        Console.WriteLine("medians (a markdown table; ns/msg is the server process's CPU time per echoed message):");
        Console.WriteLine("| point | peer | msg/s | ns/msg | server cpu | p50 / p99 ms | B/msg | clients (of fair) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var l in c.Loads)
        {
            foreach (var impl in c.Impls)
            {
                var mine = points.Where(p => p.Impl == impl && p.Load == l).ToList();
                double M(Func<Point, double> f) => MedianOf(mine.Select(f).ToList());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {l} | {impl} | {Millions(M(p => p.MsgsPerSec))} | {M(p => p.ServerNsPerMsg):F0} | {M(p => p.ServerCpuPercent):F0} % | " +
                    $"{M(p => p.P50Us) / 1000:F2} / {M(p => p.P99Us) / 1000:F2} | {M(p => p.AllocPerMsg):F1} | {mine.Min(p => p.FairMin):F2}..{mine.Max(p => p.FairMax):F2} |"));
            }
        }

        // Ratios pair by pair (the same round), then the median over the rounds; msg/s and CPU per message.
        var results = new Dictionary<(string Impl, string Peer, Load Load), (double Ratio, double CpuRatio)>();
        Console.WriteLine("ratios, median of the rounds' pairs: msg/s ratio (CPU ratio = peer ns/msg / Asio2.Rx ns/msg)");
        foreach (var impl in Compared.Where(c.Impls.Contains))
        {
            foreach (var l in c.Loads)
            {
                var line = new List<string>();
                foreach (var peer in c.Impls.Where(i => !Compared.Contains(i)))
                {
                    var mine = points.Where(p => p.Impl == impl && p.Load == l).OrderBy(p => p.Round).ToList();
                    var theirs = points.Where(p => p.Impl == peer && p.Load == l).OrderBy(p => p.Round).ToList();
                    var ratios = theirs.Zip(mine, (x, y) => y.MsgsPerSec / x.MsgsPerSec).ToList();
                    var cpuRatios = theirs.Zip(mine, (x, y) => x.ServerNsPerMsg / y.ServerNsPerMsg).ToList();
                    results[(impl, peer, l)] = (MedianOf(ratios), MedianOf(cpuRatios));
                    line.Add(string.Create(CultureInfo.InvariantCulture,
                        $"vs {peer} {MedianOf(ratios):F2} ({MedianOf(cpuRatios):F2}) [{string.Join(" ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))}]"));
                }
                Console.WriteLine($"  {impl,-10} {l,-11} {string.Join("  ", line)}");
            }
        }

        double Min(string impl, string peer, bool cpu) =>
            c.Loads.Select(l => results.TryGetValue((impl, peer, l), out var r) ? (cpu ? r.CpuRatio : r.Ratio) : double.NaN).DefaultIfEmpty(double.NaN).Min();
        string Keys(string impl, string prefix) => string.Create(CultureInfo.InvariantCulture,
            $"{prefix}ratio={Min(impl, "baseline", false):F3} {prefix}vs_pipelines={Min(impl, "pipelines", false):F3} {prefix}vs_dotnetty={Min(impl, "dotnetty", false):F3} " +
            $"{prefix}cpu_ratio={Min(impl, "baseline", true):F3} {prefix}cpu_vs_pipelines={Min(impl, "pipelines", true):F3} {prefix}cpu_vs_dotnetty={Min(impl, "dotnetty", true):F3}");
        double alloc32 = MedianOf(points.Where(p => p.Impl == "asio2rx" && p.Load.Size == 32).Select(p => p.AllocPerMsg).ToList());
        var headline = c.Loads.MaxBy(l => (long)l.Clients * l.Inflight)!;
        double headlineMsgs = MedianOf(points.Where(p => p.Impl == "asio2rx" && p.Load == headline).Select(p => p.MsgsPerSec).ToList());
        bool failed = points.Any(p => p.Failed != "no");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT tcp-echo {Keys("asio2rx", "")} {Keys("asio2rx-ps", "ps_")} msgs_per_s={headlineMsgs:F0} at={headline} alloc_per_msg_32b={alloc32:F1} " +
            $"points={string.Join(",", c.Loads.Select(l => l.ToString()))} framing={c.Framing} scheduler={c.Scheduler} inline_completions={(c.Inline ? 1 : 0)} " +
            $"pinned={(c.ServerCpu is null ? 0 : 1)} pairs={c.Pairs} seconds={c.Seconds} (ratios: minimum over the points of the median of the pairs)"));
        return failed ? 1 : 0;
    }

    private static string Millions(double v) => double.IsNaN(v) ? "-" :
        v >= 1e6 ? (v / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M" : (v / 1e3).ToString("F0", CultureInfo.InvariantCulture) + " k";

    private static async Task<RoleProcess> StartLoadAsync(int port, Load l, Config c)
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        var load = RoleProcess.Start("load", c.LoadCpu,
            ["tcp-echo", "--role", "load", "--port", I(port), "--clients", I(l.Clients), "--inflight", I(l.Inflight), "--size", I(l.Size)],
            new Dictionary<string, string?> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = c.LoadInline ? "1" : null });
        await load.ExpectAsync("READY").ConfigureAwait(false);
        return load;
    }

    private static async Task<Point> RunPointAsync(string impl, RoleProcess server, int port, Load l, int round, Config c)
    {
        await using var load = await StartLoadAsync(port, l, c).ConfigureAwait(false);
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
            impl, l, round,
            msgs / seconds,
            msgs * (double)l.Size / seconds / (1024 * 1024),
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

    private static double MedianOf(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        values = [.. values]; // sorted copy: callers print theirs in round order
        values.Sort();
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
