using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf;

/// <summary>
/// What an idle TCP session costs: a server child accepts <c>--sessions</c> connections that then send nothing, and
/// reports its managed heap and RSS growth per connection, and how fast it accepted them. The baseline, in the same
/// run, is a plain accept loop: accept, set NoDelay, wait for data with a zero-byte receive (the leanest server that
/// still notices a request). Both listen with the same backlog.
/// </summary>
internal sealed class IdleSessions : IBenchmark
{
    public string Name => "idle-sessions";

    public string Description => "heap, RSS and accept rate of N idle TcpServer sessions; baseline: a plain accept loop";

    public async Task<int> RunAsync(PerfArgs args)
    {
        if (args.String("role", "") == "server") return await ServeAsync(args);

        int sessions = args.Int("sessions", 10_000);
        int pairs = args.Int("pairs", 2);
        int backlog = args.Int("backlog", new TcpServerOptions().Backlog);
        int concurrency = args.Int("connecting", 256);
        Console.WriteLine($"idle-sessions: {sessions:N0} idle connections per point, {pairs} pairs (plain, asio2 alternating), backlog {backlog}, " +
                          $"{concurrency} connects in flight; server pinned to cpu 0, clients in this process on cpu 1");
        Console.WriteLine($"  machine: {Environment.ProcessorCount} cpus, {MachineInfo.CpuModel()}, .NET {Environment.Version}, commit {MachineInfo.GitCommit()}");

        var plain = new List<Point>();
        var asio2 = new List<Point>();
        for (int i = 0; i < pairs; i++)
        {
            foreach (var impl in new[] { "plain", "asio2" })
            {
                var p = await MeasureAsync(impl, sessions, backlog, concurrency);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  pair {i + 1} {impl,-6} heap {p.HeapPerSession,8:N0} B/session  rss {p.RssPerSession,8:N0} B/session  " +
                    $"accepted in {p.AcceptSeconds * 1000,7:0} ms ({sessions / p.AcceptSeconds,9:N0}/s)  listen overflows {p.ListenOverflows}"));
                (impl == "plain" ? plain : asio2).Add(p);
            }
        }

        double heap = Median(asio2.Select(p => p.HeapPerSession));
        double rssRatio = Median(asio2.Zip(plain, (a, b) => a.RssPerSession / b.RssPerSession));
        double acceptRatio = Median(asio2.Zip(plain, (a, b) => a.AcceptSeconds / b.AcceptSeconds));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"medians: asio2 heap {heap:N0} B/session (plain {Median(plain.Select(p => p.HeapPerSession)):N0}), " +
            $"rss {Median(asio2.Select(p => p.RssPerSession)):N0} vs {Median(plain.Select(p => p.RssPerSession)):N0} B/session, " +
            $"accept time asio2/plain {acceptRatio:0.00}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT idle-sessions heap_per_session={heap:0} rss_ratio={rssRatio:0.00} accept_ratio={acceptRatio:0.00} " +
            $"plain_heap_per_session={Median(plain.Select(p => p.HeapPerSession)):0} rss_per_session={Median(asio2.Select(p => p.RssPerSession)):0} " +
            $"plain_rss_per_session={Median(plain.Select(p => p.RssPerSession)):0} sessions={sessions} backlog={backlog} pairs={pairs}"));
        return 0;
    }

    private sealed record Point(double HeapPerSession, double RssPerSession, double AcceptSeconds, long ListenOverflows);

    private static async Task<Point> MeasureAsync(string impl, int sessions, int backlog, int concurrency)
    {
        var server = RoleProcess.Start($"server {impl}", cpu: 0,
            ["idle-sessions", "--role", "server", "--impl", impl, "--sessions", sessions.ToString(CultureInfo.InvariantCulture),
             "--backlog", backlog.ToString(CultureInfo.InvariantCulture)],
            new Dictionary<string, string?>());
        var clients = new Socket[sessions];
        try
        {
            return await MeasureAsync(server, clients, sessions, concurrency);
        }
        finally
        {
            // The server goes first (its sockets close as it exits), so the client ports do not linger in TIME_WAIT.
            await server.DisposeAsync();
            foreach (var c in clients) c?.Dispose();
        }
    }

    private static async Task<Point> MeasureAsync(RoleProcess server, Socket[] clients, int sessions, int concurrency)
    {
        var before = KeyValues.Parse(await server.ExpectAsync("READY"));
        var endPoint = new IPEndPoint(IPAddress.Loopback, (int)before.Long("port"));
        long overflowsBefore = ListenOverflows();

        var clock = Stopwatch.StartNew();
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < sessions)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(endPoint);
                clients[i] = s;
            }
        }));
        await server.ExpectAsync("ACCEPTED");
        double acceptSeconds = clock.Elapsed.TotalSeconds;
        long overflows = ListenOverflows() - overflowsBefore;

        await server.SendAsync("measure");
        var after = KeyValues.Parse(await server.ExpectAsync("MEASURE"));
        return new Point(
            (after.Long("heap") - before.Long("heap")) / (double)sessions,
            (after.Long("rss") - before.Long("rss")) / (double)sessions,
            acceptSeconds,
            overflows);
    }

    /// <summary>The server child: listens, reports its baseline, accepts until told to measure.</summary>
    private static async Task<int> ServeAsync(PerfArgs args)
    {
        string impl = args.String("impl", "asio2");
        int sessions = args.Int("sessions", 10_000);
        int backlog = args.Int("backlog", 512);
        var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int count = 0;
        void Counted()
        {
            if (Interlocked.Increment(ref count) == sessions) accepted.TrySetResult();
        }

        int port;
        IAsyncDisposable server;
        if (impl == "plain")
        {
            var plain = new PlainAcceptLoop(backlog, Counted);
            port = plain.Port;
            server = plain;
        }
        else
        {
            var tcp = new TcpServer(new TcpServerOptions { Backlog = backlog });
            tcp.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)); // the README's echo: never called here
            tcp.Sessions.Subscribe(_ => Counted());
            port = tcp.Start("127.0.0.1", 0).Port;
            server = tcp;
        }

        var (heap, rss) = Settle();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"READY port={port} heap={heap} rss={rss}"));
        await accepted.Task;
        Console.WriteLine("ACCEPTED");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line != "measure") continue;
            (heap, rss) = Settle();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MEASURE heap={heap} rss={rss}"));
        }
        await server.DisposeAsync();
        return 0;
    }

    /// <summary>Managed heap after a full collection, and the resident set size.</summary>
    private static (long Heap, long Rss) Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        using var self = Process.GetCurrentProcess();
        return (heap, self.WorkingSet64);
    }

    /// <summary>TcpExt ListenOverflows from /proc/net/netstat (machine-wide; -1 where unavailable).</summary>
    private static long ListenOverflows()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/net/netstat");
            for (int i = 0; i + 1 < lines.Length; i++)
            {
                if (!lines[i].StartsWith("TcpExt:", StringComparison.Ordinal)) continue;
                var names = lines[i].Split(' ');
                var values = lines[i + 1].Split(' ');
                int at = Array.IndexOf(names, "ListenOverflows");
                return at > 0 ? long.Parse(values[at], CultureInfo.InvariantCulture) : -1;
            }
        }
        catch (IOException)
        {
        }
        return -1;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The baseline: accept, NoDelay, a zero-byte receive per connection; nothing else.</summary>
    private sealed class PlainAcceptLoop : IAsyncDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly List<Socket> _sockets = [];
        private readonly Task _loop;

        public PlainAcceptLoop(int backlog, Action accepted)
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(backlog);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            _loop = Task.Run(async () =>
            {
                while (true)
                {
                    Socket s;
                    try { s = await _listener.AcceptAsync(); }
                    catch (Exception) { return; }
                    s.NoDelay = true;
                    lock (_sockets) _sockets.Add(s);
                    _ = s.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).AsTask().ContinueWith(static _ => { }, TaskScheduler.Default);
                    accepted();
                }
            });
        }

        public int Port { get; }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _loop;
            lock (_sockets) _sockets.ForEach(s => s.Dispose());
        }
    }
}
