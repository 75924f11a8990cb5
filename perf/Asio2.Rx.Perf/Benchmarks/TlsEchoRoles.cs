using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HdrHistogram;

using Asio2.Rx.Perf.Echo;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// The server under test, in its own (pinned) process: <c>--impl baseline</c> is a plain <see cref="SslStream"/> echo
/// that writes back each read; <c>--impl asio2</c> is a <see cref="TcpServer"/> with TLS and datagram framing that
/// sends every frame back. Prints <c>PORT n</c>; answers <c>mark</c> with a <see cref="ProcessMark"/> line.
/// </summary>
internal static class TlsEchoServerRole
{
    public static async Task<int> RunAsync(PerfArgs args)
    {
        string impl = args.String("impl", "asio2");
        var certificate = SelfSigned();
        IAsyncDisposable server;
        int port;
        if (impl == "asio2")
        {
            var schedulers = args.String("scheduler", "default") switch
            {
                "default" => null,
                "immediate" => new SchedulerPool(ImmediateScheduler.Instance),
                "eventloop" => new SchedulerPool(EchoServerRole.Asio2EchoServer.EventLoops()),
                // Ablations: a minimal event loop instead of Rx's EventLoopScheduler, spinning before it sleeps or not.
                "lean" => new SchedulerPool(new LeanEventLoop("lean loop")),
                "lean-nospin" => new SchedulerPool(new LeanEventLoop("lean loop", spin: false)),
                var s => throw new ArgumentException($"unknown --scheduler '{s}'"),
            };
            var tcp = new TcpServer(new TcpServerOptions
            {
                Framing = Framing.Datagram(),
                Schedulers = schedulers,
                Tls = new TlsServerOptions { Certificate = TlsCertificate.FromCertificate(certificate) },
            });
            // One subscription per session (not a merged SelectMany, which would serialise every session under one lock).
            tcp.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
            port = tcp.Start("127.0.0.1", 0).Port;
            server = tcp;
        }
        else if (impl == "baseline")
        {
            var baseline = new BaselineServer(SslStreamCertificateContext.Create(certificate, null, offline: true));
            port = baseline.Port;
            server = baseline;
        }
        else
        {
            throw new ArgumentException($"unknown --impl '{impl}'");
        }
        Console.WriteLine($"PORT {port} impl={impl}");
        while (await ParentCommands.ReadAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "mark") Console.WriteLine(ProcessMark.Take().ToLine());
        }
        await server.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>Both servers present this: ECDSA P-256, so both negotiate the same TLS 1.3 suite.</summary>
    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509Certificate2.CreateFromPem(cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>The baseline: accept, handshake, then read and write back what was read, nothing else.</summary>
    private sealed class BaselineServer : IAsyncDisposable
    {
        private readonly SslStreamCertificateContext _context;
        private readonly LoopbackListener _listener;

        public BaselineServer(SslStreamCertificateContext context)
        {
            _context = context;
            _listener = new LoopbackListener(socket => _ = EchoAsync(socket));
        }

        public int Port => _listener.Port;

        private async Task EchoAsync(Socket socket)
        {
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
            var buffer = new byte[16 * 1024]; // the same receive buffer size as the Asio2.Rx default
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _context,
                    EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                }).ConfigureAwait(false);
                int n;
                while ((n = await ssl.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                    await ssl.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the load generator went away
            }
        }

        public ValueTask DisposeAsync()
        {
            _listener.Dispose();
            return default;
        }
    }
}

/// <summary>
/// The load generator, in its own (pinned) process. Each client is an <see cref="SslStream"/> keeping <c>--inflight</c>
/// datagram-framed messages of <c>--size</c> bytes outstanding: it counts whole echoed messages by bytes, records each
/// one's round trip, and writes as many new ones as came back, in one write. Prints <c>READY</c> once every client is
/// pumping; <c>start</c> opens the counted window, <c>stop</c> closes it and prints <c>LOAD msgs= elapsed_ns= p50_ns= ...</c>.
/// </summary>
internal static class TlsEchoLoadRole
{
    private const long HighestLatencyNs = 60L * 1_000_000_000;
    private static volatile bool s_recording;

    public static async Task<int> RunAsync(PerfArgs args)
    {
        int port = args.Int("port", 0);
        int clients = args.Int("clients", 10);
        int inflight = args.Int("inflight", 100);
        int size = args.Int("size", 32);
        if (port <= 0 || clients < 1 || inflight < 1 || size < 0) throw new ArgumentException("need --port, --clients >= 1, --inflight >= 1, --size >= 0");
        var all = new Client[clients];
        for (int i = 0; i < clients; i++) all[i] = await Client.ConnectAsync(port, inflight, size).ConfigureAwait(false);
        foreach (var c in all) c.Start();
        Console.WriteLine($"READY clients={clients} inflight={inflight} size={size}");

        long started = 0, startCount = 0;
        TimeSpan startCpu = default;
        while (await ParentCommands.ReadAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "start")
            {
                startCount = all.Sum(c => c.Echoed);
                started = Stopwatch.GetTimestamp();
                startCpu = Process.GetCurrentProcess().TotalProcessorTime;
                s_recording = true;
                Console.WriteLine("STARTED");
            }
            else if (line == "stop")
            {
                s_recording = false;
                long elapsed = Stopwatch.GetTimestamp() - started;
                long cpuNs = (Process.GetCurrentProcess().TotalProcessorTime - startCpu).Ticks * 100;
                long msgs = all.Sum(c => c.Echoed) - startCount;
                var histogram = new LongHistogram(HighestLatencyNs, 3);
                foreach (var c in all) c.AddLatenciesTo(histogram);
                var failure = all.Select(c => c.Failure).FirstOrDefault(f => f is not null);
                long P(double p) => histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(p);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"LOAD msgs={msgs} elapsed_ns={(long)(elapsed * (1e9 / Stopwatch.Frequency))} p50_ns={P(50)} p99_ns={P(99)} p999_ns={P(99.9)} cpu_ns={cpuNs} " +
                    $"failed={(failure is null ? "no" : failure.GetType().Name)}"));
                if (failure is not null) Console.Error.WriteLine($"a client failed: {failure}");
                foreach (var c in all) c.Dispose();
                return failure is null ? 0 : 1;
            }
        }
        foreach (var c in all) c.Dispose();
        return 0;
    }

    private sealed class Client : IDisposable
    {
        private readonly SslStream _ssl;
        private readonly byte[] _messages;
        private readonly int _frame;
        private readonly long[] _sentAt; // ring of send timestamps: echoes come back in order
        private readonly LongHistogram _latency = new(HighestLatencyNs, 3);
        private int _head, _count;
        private long _echoed;

        private Client(SslStream ssl, int inflight, int size)
        {
            _ssl = ssl;
            // asio2's datagram framing: 1-byte length below 254, else 254 + 2-byte little-endian length (sizes up to 64 KiB here).
            var header = size < 254 ? [(byte)size] : new byte[] { 254, (byte)size, (byte)(size >> 8) };
            _frame = header.Length + size;
            _messages = new byte[_frame * inflight];
            for (int i = 0; i < inflight; i++) header.CopyTo(_messages, i * _frame);
            _sentAt = new long[inflight];
        }

        public long Echoed => Volatile.Read(ref _echoed);
        public Exception? Failure { get; private set; }
        private Task _pump = Task.CompletedTask;

        public static async Task<Client> ConnectAsync(int port, int inflight, int size)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = static (_, _, _, _) => true, // the benchmark's own throw-away certificate
            }).ConfigureAwait(false);
            return new Client(ssl, inflight, size);
        }

        public void Start() => _pump = PumpAsync();

        private async Task PumpAsync()
        {
            var buffer = new byte[64 * 1024];
            int partial = 0;
            try
            {
                await SendAsync(_sentAt.Length).ConfigureAwait(false);
                while (true)
                {
                    int n = await _ssl.ReadAsync(buffer).ConfigureAwait(false);
                    if (n == 0) throw new EndOfStreamException("the server closed the connection");
                    int total = partial + n;
                    int done = total / _frame;
                    partial = total % _frame;
                    if (done == 0) continue;
                    Complete(done);
                    await SendAsync(done).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not ObjectDisposedException)
            {
                Failure ??= e;
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private ValueTask SendAsync(int count)
        {
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++) _sentAt[(_head + _count + i) % _sentAt.Length] = now;
            _count += count;
            return _ssl.WriteAsync(_messages.AsMemory(0, count * _frame));
        }

        private void Complete(int done)
        {
            long now = Stopwatch.GetTimestamp();
            bool record = s_recording;
            lock (_latency)
            {
                for (int i = 0; i < done; i++)
                {
                    long sent = _sentAt[_head];
                    _head = (_head + 1) % _sentAt.Length;
                    if (record) _latency.RecordValue(Math.Min(HighestLatencyNs, (long)((now - sent) * (1e9 / Stopwatch.Frequency))));
                }
            }
            _count -= done;
            Interlocked.Add(ref _echoed, done);
        }

        public void AddLatenciesTo(LongHistogram histogram)
        {
            lock (_latency) histogram.Add(_latency);
        }

        public void Dispose()
        {
            _ssl.Dispose();
            _pump.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
