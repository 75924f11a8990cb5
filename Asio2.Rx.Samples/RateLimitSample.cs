using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Linq;

namespace Asio2.Rx.Samples;

/// <summary>A rate-limited server (per-session write limit in the session core) and the same limiter as an operator.</summary>
internal sealed class RateLimitSample : ISample
{
    public string Name => "ratelimit";
    public string Description => "server sessions limited to 100 KB/s while writing; the RateLimit operator pacing a stream";
    public int Order => 70;

    public async Task RunAsync(string[] args)
    {
        const int total = 200_000;
        // Every session may write 100 KB/s, in bursts of at most 10 KB. Sends never block and nothing is dropped:
        // the send queue holds what the budget does not allow yet.
        await using var server = new TcpServer(new TcpServerOptions { WriteRateLimit = new RateLimit(100_000, 10_000) });
        server.Sessions.Subscribe(s => s.Send(new byte[total]));
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: {bound}, each session writes at most 100 KB/s (burst 10 KB)");

        await using var client = new TcpClient();
        long received = 0;
        var done = client.Frames.Scan(0L, (n, f) => n + f.Length)
            .Do(n => Interlocked.Exchange(ref received, n))
            .FirstAsync(n => n >= total)
            .Timeout(TimeSpan.FromSeconds(10))
            .Replay();
        using var counting = done.Connect();
        var clock = Stopwatch.StartNew();
        var progress = Observable.Interval(TimeSpan.FromMilliseconds(500))
            .Subscribe(_ => Console.WriteLine($"client: {Interlocked.Read(ref received),7} bytes after {clock.Elapsed.TotalSeconds:0.0} s"));
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        await done;
        progress.Dispose();
        Console.WriteLine($"client: all {total} bytes in {clock.Elapsed.TotalSeconds:0.00} s " +
                          $"(~{(total - 10_000) / 100_000.0:0.0} s expected: one burst at once, the rest at 100 KB/s)");

        // The same limiter for any stream: five 100-byte items at 1000 B/s, burst 100, go out 100 ms apart.
        var start = DateTimeOffset.UtcNow;
        await Observable.Range(1, 5)
            .RateLimit(new RateLimit(1000, 100), _ => 100, TaskPoolScheduler.Default)
            .Do(i => Console.WriteLine($"operator: item {i} at +{(DateTimeOffset.UtcNow - start).TotalMilliseconds,4:0} ms"))
            .LastAsync();
    }
}
