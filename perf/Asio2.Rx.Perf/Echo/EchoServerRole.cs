using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Runtime;
using System.Runtime.CompilerServices;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// The server side of an echo benchmark, run in its own (pinned) process; <c>--impl</c> picks the peer:
/// <c>baseline</c>, a plain <see cref="Socket"/> server that writes back each received buffer unparsed (the limit);
/// <c>pipelines</c>, <see cref="PipelinesEchoServer"/>; <c>dotnetty</c>, <see cref="DotNettyEchoServer"/>;
/// <c>asio2rx</c>, a <see cref="TcpServer"/> subscribed with the README idiom (<c>SelectMany</c>), and <c>asio2rx-ps</c>,
/// the same with one subscription per session; both send every received frame back with one <c>Send</c> per frame.
/// Prints <c>PORT n ...</c>, then answers each <c>mark</c> on stdin with a <see cref="ProcessMark"/> line, and exits
/// when stdin closes.
/// </summary>
internal static class EchoServerRole
{
    public static readonly string[] Impls = ["baseline", "pipelines", "dotnetty", "asio2rx", "asio2rx-ps"];

    public static async Task<int> RunAsync(PerfArgs args)
    {
        string impl = args.String("impl", "asio2rx");
        int bufferSize = args.Int("buffer", 64 * 1024);
        string describe = "";
        int port;
        IAsyncDisposable server;
        switch (impl)
        {
            case "baseline":
                var socketEcho = new SocketEchoServer(bufferSize);
                (server, port) = (socketEcho, socketEcho.Port);
                break;
            case "pipelines":
                var pipelines = new PipelinesEchoServer(bufferSize);
                (server, port) = (pipelines, pipelines.Port);
                break;
            case "dotnetty":
                var dotnetty = await DotNettyEchoServer.StartAsync().ConfigureAwait(false);
                (server, port, describe) = (dotnetty, dotnetty.Port, $"worker_loops={Environment.ProcessorCount * 2}");
                break;
            case "asio2rx" or "asio2rx-ps":
                var asio2 = new Asio2EchoServer(args, bufferSize, perSession: impl == "asio2rx-ps");
                (server, port, describe) = (asio2, asio2.Port, asio2.Describe());
                break;
            default:
                throw new ArgumentException($"--impl must be one of {string.Join(", ", Impls)}, not '{impl}'");
        }
        try
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"PORT {port} impl={impl} cpus={Environment.ProcessorCount} gc={(GCSettings.IsServerGC ? "server" : "workstation")} " +
                $"gc_latency={GCSettings.LatencyMode} inline_completions={Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") ?? "0"} {describe}"));
            while (await ParentCommands.ReadAsync().ConfigureAwait(false) is { } line)
            {
                if (line == "mark") Console.WriteLine(ProcessMark.Take().ToLine());
                else if (line == "exit") break;
            }
        }
        finally
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>The fastest simple echo: each connection reads into one buffer and writes back exactly what it read.</summary>
    private sealed class SocketEchoServer : IAsyncDisposable
    {
        private readonly int _bufferSize;
        private readonly LoopbackListener _listener;

        public SocketEchoServer(int bufferSize)
        {
            _bufferSize = bufferSize;
            _listener = new LoopbackListener(socket => _ = EchoAsync(socket));
        }

        public int Port => _listener.Port;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private async ValueTask EchoAsync(Socket socket)
        {
            var buffer = GC.AllocateUninitializedArray<byte>(_bufferSize);
            try
            {
                while (true)
                {
                    int n = await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                    if (n == 0) return;
                    for (int sent = 0; sent < n;)
                        sent += await socket.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // The load generator closed or reset the connection: nothing to report.
            }
            finally
            {
                socket.Dispose();
            }
        }

        public ValueTask DisposeAsync()
        {
            _listener.Dispose();
            return default;
        }
    }

    /// <summary>The library under test: one frame per message, one <c>Send</c> per frame.</summary>
    internal sealed class Asio2EchoServer : IAsyncDisposable
    {
        private readonly TcpServer _server;
        private readonly string _scheduler;
        private readonly string _subscribe;
        private readonly string _framing;
        private readonly SchedulerPool? _ownedPool;
        private readonly LeanEventLoop? _lean;
        private readonly EventLoopScheduler[]? _eventLoops;

        public Asio2EchoServer(PerfArgs args, int bufferSize, bool perSession)
        {
            _framing = args.String("framing", "datagram");
            _scheduler = args.String("scheduler", "default");
            _subscribe = perSession ? "per-session" : "selectmany";
            SchedulerPool pool;
            if (_scheduler == "default") pool = SchedulerPool.Shared;
            else if (_scheduler == "immediate") pool = new SchedulerPool(ImmediateScheduler.Instance);
            else if (_scheduler == "eventloop") pool = new SchedulerPool(_eventLoops = EventLoops());
            else if (_scheduler == "lean") pool = new SchedulerPool(_lean = new LeanEventLoop("lean loop"));
            else if (_scheduler == "lean-nospin") pool = new SchedulerPool(_lean = new LeanEventLoop("lean loop", spin: false));
            else if (_scheduler.StartsWith("loops:", StringComparison.Ordinal)) pool = _ownedPool = new SchedulerPool(int.Parse(_scheduler[6..], System.Globalization.CultureInfo.InvariantCulture));
            else throw new ArgumentException($"--scheduler must be default, immediate, eventloop, lean, lean-nospin or loops:N, not '{_scheduler}'");
            _server = new TcpServer(new TcpServerOptions
            {
                Framing = _framing switch
                {
                    "datagram" => Framing.Datagram(),
                    "raw" => Framing.Raw,
                    _ => throw new ArgumentException($"--framing must be datagram or raw, not '{_framing}'"),
                },
                Schedulers = pool,
                ReceiveBufferSize = bufferSize,
            });
            if (perSession)
            {
                // One subscription per session: no merge, so no lock shared by all sessions.
                _server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
            }
            else
            {
                // The idiom of the README: one merged stream of every session's frames.
                _server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data));
            }
            Port = _server.Start("127.0.0.1", 0).Port;
        }

        public int Port { get; }

        public string Describe() => $"framing={_framing} scheduler={_scheduler} loops={SchedulerCount()} subscribe={_subscribe}";

        private int SchedulerCount() => _scheduler is "immediate" or "lean" or "lean-nospin" ? (_lean is null ? 0 : 1)
            : _eventLoops?.Length ?? (_ownedPool ?? SchedulerPool.Shared).Count;

        /// <summary>Rx's event loops, one per core: the pool as it was before its loops waited for their sockets themselves.</summary>
        public static EventLoopScheduler[] EventLoops() =>
            Enumerable.Range(0, Environment.ProcessorCount).Select(_ => new EventLoopScheduler(start => new Thread(start) { IsBackground = true })).ToArray();

        public async ValueTask DisposeAsync()
        {
            await _server.StopAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            _ownedPool?.Dispose();
            _lean?.Dispose();
            foreach (var loop in _eventLoops ?? []) loop.Dispose();
        }
    }
}
