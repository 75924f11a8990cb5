using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

using Asio2.Rx.Perf.Support;
using Asio2.Rx.Perf.Web;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// TechEmpower's plaintext test: <c>wrk</c> (pinned to one core) against Asio2.Rx's <see cref="HttpServer"/> and a Kestrel
/// minimal-API endpoint (each in a child process pinned to the other core), alternating, keep-alive and pipelined
/// (depth 16, TechEmpower's Lua script).
/// </summary>
/// <remarks>
/// Options (defaults): --connections 64, --depth 16, --seconds 10, --warmup 2 (wrk before each counted run), --server-warmup 10
/// (per server and mode, once), --pairs 3, --modes keepalive,pipelined, --inline-completions (servers), --server-env K=V[,K=V],
/// --server-cpu 0, --load-cpu 1, --no-pin, --wrk /usr/bin/wrk.
/// Per point: requests/s and p50/p99 from wrk (with pipelining wrk times a whole batch of <c>depth</c> requests), and from the
/// server process's marks around the counted run, CPU ns and allocated bytes per request.
/// </remarks>
internal sealed class HttpPlaintext : IBenchmark
{
    public string Name => "http-plaintext";

    public string Description => "wrk plaintext (TechEmpower): Asio2.Rx HttpServer vs Kestrel minimal API, keep-alive and pipelined x16, pinned, alternating";

    private static readonly string[] Impls = ["asio2rx", "kestrel"];

    // TechEmpower's request headers (their wrk command adds these to wrk's GET and Host).
    private static readonly string[] Headers =
    [
        "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7",
        "Connection: keep-alive",
    ];

    // TechEmpower's pipeline.lua: each request() returns depth requests at once.
    private const string PipelineScript = """
        init = function(args)
          local r = {}
          local depth = tonumber(args[1]) or 1
          for i=1,depth do
            r[i] = wrk.format()
          end
          req = table.concat(r)
        end

        request = function()
          return req
        end
        """;

    public Task<int> RunAsync(PerfArgs args) => args.String("role", "") switch
    {
        "server" => WebServerRole.RunAsync(args),
        "" => OrchestrateAsync(args),
        var r => throw new ArgumentException($"unknown --role '{r}'"),
    };

    private sealed record Config(int Connections, int Depth, int Seconds, int Warmup, int ServerWarmup, int Pairs, string[] Modes,
        int? ServerCpu, int? LoadCpu, string Wrk, string Script, Dictionary<string, string?> ServerEnv);

    private sealed record Point(string Impl, string Mode, double Rps, double P50Us, double P99Us, double AllocPerRequest,
        double ServerCpuPercent, double NsPerRequest, long Jit, string Errors);

    private static async Task<int> OrchestrateAsync(PerfArgs args)
    {
        bool pin = !args.Flag("no-pin") && RoleProcess.CanPin;
        string script = Path.Combine(Path.GetTempPath(), $"asio2rx-pipeline-{Environment.ProcessId}.lua");
        await File.WriteAllTextAsync(script, PipelineScript).ConfigureAwait(false);
        var c = new Config(args.Int("connections", 64), args.Int("depth", 16), args.Int("seconds", 10), args.Int("warmup", 2),
            args.Int("server-warmup", 10), args.Int("pairs", 3), args.String("modes", "keepalive,pipelined").Split(','),
            pin ? args.Int("server-cpu", 0) : null, pin ? args.Int("load-cpu", 1) : null, args.String("wrk", "/usr/bin/wrk"), script,
            RoleProcess.ServerEnvironment(args));
        Console.WriteLine($"http-plaintext: wrk -t1 -c{c.Connections}, keep-alive and pipelined x{c.Depth}; {c.Warmup} s warm-up + {c.Seconds} s counted " +
                          $"per point, {c.Pairs} rounds of {string.Join(" ", Impls)} (order reversed every other round)");
        Console.WriteLine($"  servers: cpu {c.ServerCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, workstation non-concurrent GC (project setting)" +
                          (RoleProcess.Describe(c.ServerEnv) is { Length: > 0 } env ? ", env " + env : ", inline completions off"));
        Console.WriteLine($"  wrk:     cpu {c.LoadCpu?.ToString(CultureInfo.InvariantCulture) ?? "unpinned"}, 1 thread");
        Console.WriteLine($"  machine: {MachineInfo.Describe()}, commit {MachineInfo.GitCommit()}");

        var servers = new Dictionary<string, (RoleProcess Process, int Port)>();
        var points = new List<Point>();
        try
        {
            foreach (var impl in Impls)
            {
                var process = RoleProcess.Start($"{impl} server", c.ServerCpu, ["http-plaintext", "--role", "server", "--impl", impl, "--app", "plaintext"], c.ServerEnv);
                string ready = await process.ExpectAsync("PORT ").ConfigureAwait(false);
                Console.WriteLine($"  {impl}: {ready}");
                servers[impl] = (process, int.Parse(ready.Split(' ')[1], CultureInfo.InvariantCulture));
            }
            foreach (var impl in Impls)
            {
                string response = await OneResponseAsync(servers[impl].Port).ConfigureAwait(false);
                Console.WriteLine($"  {impl} answers {Encoding.ASCII.GetByteCount(response)} B: {response.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}");
                foreach (var mode in c.Modes) await RunWrkAsync(c, servers[impl].Port, mode, c.ServerWarmup).ConfigureAwait(false);
            }

            for (int round = 1; round <= c.Pairs; round++)
            {
                foreach (var mode in c.Modes)
                {
                    var order = round % 2 == 1 ? Impls : Impls.Reverse().ToArray();
                    foreach (var impl in order)
                    {
                        var p = await RunPointAsync(c, impl, servers[impl].Process, servers[impl].Port, mode).ConfigureAwait(false);
                        points.Add(p);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  round {round} {mode,-9} {impl,-8} {p.Rps,11:N0} req/s  p50 {p.P50Us,8:F0} us  p99 {p.P99Us,8:F0} us  alloc {p.AllocPerRequest,7:F1} B/req  " +
                            $"server cpu {p.ServerCpuPercent,3:F0}% {p.NsPerRequest,6:F0} ns/req  jit {p.Jit}{(p.Errors.Length == 0 ? "" : "  ERRORS " + p.Errors)}"));
                    }
                }
            }
        }
        finally
        {
            foreach (var (process, _) in servers.Values) await process.DisposeAsync().ConfigureAwait(false);
            File.Delete(script);
        }

        Console.WriteLine("medians (ratio = asio2rx / kestrel, each the median of the rounds' ratios; cpu ratio = kestrel ns/req / asio2rx ns/req):");
        var result = new Dictionary<string, (double Rps, double Ratio, double CpuRatio, double Alloc, double P50, double P99)>();
        foreach (var mode in c.Modes)
        {
            foreach (var impl in Impls)
            {
                var mine = points.Where(p => p.Impl == impl && p.Mode == mode).ToList();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {mode,-9} {impl,-8} {Median(mine.Select(p => p.Rps)),11:N0} req/s  p50 {Median(mine.Select(p => p.P50Us)),8:F0} us  " +
                    $"p99 {Median(mine.Select(p => p.P99Us)),8:F0} us  alloc {Median(mine.Select(p => p.AllocPerRequest)),7:F1} B/req  " +
                    $"server cpu {Median(mine.Select(p => p.ServerCpuPercent)),3:F0}% {Median(mine.Select(p => p.NsPerRequest)),6:F0} ns/req"));
            }
            var asio = points.Where(p => p.Impl == "asio2rx" && p.Mode == mode).ToList();
            var kestrel = points.Where(p => p.Impl == "kestrel" && p.Mode == mode).ToList();
            var ratios = asio.Zip(kestrel, (a, k) => a.Rps / k.Rps).ToList();
            var cpuRatios = asio.Zip(kestrel, (a, k) => k.NsPerRequest / a.NsPerRequest).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {mode,-9} ratio by round {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))} median {Median(ratios):F3}; " +
                $"cpu ratio by round {string.Join(" ", cpuRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))} median {Median(cpuRatios):F3}"));
            result[mode] = (Median(asio.Select(p => p.Rps)), Median(ratios), Median(cpuRatios), Median(asio.Select(p => p.AllocPerRequest)),
                Median(asio.Select(p => p.P50Us)), Median(asio.Select(p => p.P99Us)));
        }

        var line = new StringBuilder("RESULT http-plaintext");
        if (result.TryGetValue("keepalive", out var k1))
            line.Append(CultureInfo.InvariantCulture, $" rps={k1.Rps:F0} ratio={k1.Ratio:F3}");
        if (result.TryGetValue("pipelined", out var p1))
            line.Append(CultureInfo.InvariantCulture, $" pipelined_ratio={p1.Ratio:F3} pipelined_rps={p1.Rps:F0}");
        if (result.TryGetValue("keepalive", out var k2))
            line.Append(CultureInfo.InvariantCulture, $" cpu_ratio={k2.CpuRatio:F3} alloc_per_req={k2.Alloc:F1} p50_us={k2.P50:F0} p99_us={k2.P99:F0}");
        if (result.TryGetValue("pipelined", out var p2))
            line.Append(CultureInfo.InvariantCulture, $" pipelined_cpu_ratio={p2.CpuRatio:F3} pipelined_alloc_per_req={p2.Alloc:F1}");
        line.Append(CultureInfo.InvariantCulture, $" connections={c.Connections} depth={c.Depth} pinned={(c.ServerCpu is null ? 0 : 1)} rounds={c.Pairs} seconds={c.Seconds}");
        Console.WriteLine(line);
        return points.Any(p => p.Errors.Length > 0) ? 1 : 0;
    }

    private static async Task<Point> RunPointAsync(Config c, string impl, RoleProcess server, int port, string mode)
    {
        if (c.Warmup > 0) await RunWrkAsync(c, port, mode, c.Warmup).ConfigureAwait(false);
        await server.SendAsync("mark").ConfigureAwait(false);
        var before = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false));
        var wrk = await RunWrkAsync(c, port, mode, c.Seconds).ConfigureAwait(false);
        await server.SendAsync("mark").ConfigureAwait(false);
        var cost = ProcessMark.Parse(await server.ExpectAsync("MARK").ConfigureAwait(false)) - before;
        double requests = Math.Max(1, wrk.Requests);
        return new Point(impl, mode, wrk.Requests / wrk.Seconds, wrk.P50Us, wrk.P99Us, cost.AllocatedBytes / requests, cost.CpuPercent,
            cost.CpuNs / requests, cost.JitMethods, wrk.Errors);
    }

    private sealed record WrkResult(long Requests, double Seconds, double P50Us, double P99Us, string Errors);

    /// <summary>Runs wrk (pinned) for <paramref name="seconds"/> and parses its report.</summary>
    private static async Task<WrkResult> RunWrkAsync(Config c, int port, string mode, int seconds)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var wrkArgs = new List<string> { c.Wrk, "-t1", $"-c{c.Connections}", $"-d{seconds}s", "--latency", "--timeout", "8" };
        foreach (var h in Headers) wrkArgs.AddRange(["-H", h]);
        wrkArgs.Add($"http://127.0.0.1:{port}/plaintext");
        if (mode == "pipelined") wrkArgs.AddRange(["-s", c.Script, "--", c.Depth.ToString(CultureInfo.InvariantCulture)]);
        else if (mode != "keepalive") throw new ArgumentException($"unknown mode '{mode}' (keepalive, pipelined)");
        if (c.LoadCpu is { } cpu)
        {
            psi.FileName = "taskset";
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(cpu.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            psi.FileName = wrkArgs[0];
            wrkArgs.RemoveAt(0);
        }
        foreach (var a in wrkArgs) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start wrk");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        string output = await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0) throw new InvalidOperationException($"wrk exited with {process.ExitCode}: {await stderr.ConfigureAwait(false)}\n{output}");
        return ParseWrk(output);
    }

    private static WrkResult ParseWrk(string output)
    {
        var total = Regex.Match(output, @"(\d+) requests in ([\d.]+)(us|ms|s|m)");
        if (!total.Success) throw new FormatException($"no request count in wrk's output:\n{output}");
        var errors = new List<string>();
        var socket = Regex.Match(output, @"Socket errors: (.*)");
        if (socket.Success) errors.Add(socket.Groups[1].Value.Replace(' ', '_'));
        var non2xx = Regex.Match(output, @"Non-2xx or 3xx responses: (\d+)");
        if (non2xx.Success) errors.Add("non2xx=" + non2xx.Groups[1].Value);
        return new WrkResult(
            long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture),
            Duration(total.Groups[2].Value, total.Groups[3].Value) / 1e6,
            Percentile(output, "50%"), Percentile(output, "99%"), string.Join(",", errors));
    }

    private static double Percentile(string output, string label)
    {
        var m = Regex.Match(output, @"^\s*" + Regex.Escape(label) + @"\s+([\d.]+)(us|ms|s|m)\s*$", RegexOptions.Multiline);
        return m.Success ? Duration(m.Groups[1].Value, m.Groups[2].Value) : double.NaN;
    }

    /// <summary>A wrk duration in microseconds.</summary>
    private static double Duration(string value, string unit) => double.Parse(value, CultureInfo.InvariantCulture) * unit switch
    {
        "us" => 1,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => throw new FormatException(unit),
    };

    /// <summary>One response to wrk's request, read off a raw socket: the bytes each server answers, printed for comparison.</summary>
    private static async Task<string> OneResponseAsync(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
        string request = $"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{string.Join("\r\n", Headers)}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request)).ConfigureAwait(false);
        var buffer = new byte[4096];
        int n = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // Whole when it ends with the body (Content-Length) or with the last chunk (chunked).
        while (Encoding.ASCII.GetString(buffer, 0, n) is var text
               && !text.EndsWith(WebServerRole.PlaintextBody, StringComparison.Ordinal) && !text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(n), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            if (read == 0) break;
            n += read;
        }
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    private static double Median(IEnumerable<double> source)
    {
        var values = source.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToList();
        if (values.Count == 0) return double.NaN;
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
