using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Asio2.Rx.Tests.Http;

/// <summary>wrk, a load generator nobody here wrote: a short run pinned to one core (keep-alive connections) must see
/// no socket errors and no response outside 2xx. wrk's own summary counts only statuses above 399 as errors, so a
/// small script counts every status itself and prints the totals the test reads back.</summary>
public sealed partial class HttpWrkTests : IDisposable
{
    // wrk runs one Lua state per thread; done() sums the per-thread counters through thread:get.
    private const string CountingScript = """
        local threads = {}
        function setup(thread) table.insert(threads, thread) end
        function init(args) responses = 0; non2xx = 0 end
        function response(status, headers, body)
          responses = responses + 1
          if status < 200 or status > 299 then non2xx = non2xx + 1 end
        end
        function done(summary, latency, requests)
          local r, n = 0, 0
          for _, t in ipairs(threads) do r = r + t:get("responses"); n = n + t:get("non2xx") end
          local e = summary.errors
          io.write(string.format("asio2rx requests=%d responses=%d non2xx=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
            summary.requests, r, n, e.connect, e.read, e.write, e.status, e.timeout))
        end
        """;

    private readonly string _script = Path.Combine(Path.GetTempPath(), $"asio2rx-wrk-{Guid.NewGuid():N}.lua");

    public HttpWrkTests() => File.WriteAllText(_script, CountingScript);

    public void Dispose() => File.Delete(_script);

    [PeerFact("wrk")]
    public async Task ShortPinnedRun_HasZeroSocketErrors_AndZeroNon2xx()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/plaintext", _ => "Hello, World!"));
        string[] wrk = ["-t1", "-c16", "-d2s", "--timeout", "10s", "-s", _script, server.Url + "/plaintext"];
        // Pinned to the last core this process may use, as the perf run pins it; unpinned when taskset is missing.
        var r = Peers.Which("taskset") is not null
            ? await PeerProcess.Run("taskset", ["-c", LastAllowedCore().ToString(), "wrk", .. wrk])
            : await PeerProcess.Run("wrk", wrk);

        Assert.True(r.ExitCode == 0, r.Stderr + r.Text);
        var m = Totals().Match(r.Text);
        Assert.True(m.Success, "wrk printed no totals: " + r.Text);
        long Count(string name) => long.Parse(m.Groups[name].Value);
        Assert.True(Count("requests") > 0, r.Text);
        Assert.Equal(Count("requests"), Count("responses"));
        Assert.Equal(0, Count("non2xx"));
        Assert.Equal(0, Count("connect") + Count("read") + Count("write") + Count("timeout"));
        Assert.Equal(0, Count("status"));
        Assert.DoesNotContain("Socket errors", r.Text);
    }

    private static int LastAllowedCore()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows()) return 0;
        long mask = (long)Process.GetCurrentProcess().ProcessorAffinity;
        return mask == 0 ? 0 : 63 - (int)ulong.LeadingZeroCount((ulong)mask);
    }

    [GeneratedRegex(@"asio2rx requests=(?<requests>\d+) responses=(?<responses>\d+) non2xx=(?<non2xx>\d+) connect=(?<connect>\d+) read=(?<read>\d+) write=(?<write>\d+) status=(?<status>\d+) timeout=(?<timeout>\d+)")]
    private static partial Regex Totals();
}
