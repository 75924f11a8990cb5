using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using HdrHistogram;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// ikcp's latency table, through Asio2.Rx's KCP sessions: a <see cref="KcpClient"/> sends one 12-byte message every
/// 20 ms to an echoing <see cref="KcpServer"/> across a <see cref="LossyLink"/>, and records each round trip. The link
/// reproduces ikcp's test.cpp (<c>LatencySimulator(10, 60, 125)</c>): half the round-trip loss and half the RTT range in
/// each direction, so 5 % loss and 30–62.5 ms one way. Everything runs in virtual time (a HistoricalScheduler), so a run
/// takes seconds and repeats exactly for a seed.
/// </summary>
/// <remarks>
/// <para>Modes, both ends, windows 128/128, as test.cpp: default <c>nodelay(0, 10, 0, 0)</c>; normal
/// <c>nodelay(0, 10, 0, 1)</c>; fast <c>nodelay(2, 10, 2, 1)</c> plus, on the client, min RTO 10 ms and fast resend 1.</para>
/// <para>The TCP baseline cannot be real TCP (no netem on this kernel, and a relay in front of kernel TCP would not lose
/// segments inside TCP). It is TCP's retransmission behaviour modelled with the same ARQ engine, and named so
/// ("tcp-like"): a byte stream (KCP stream mode, so writes queued behind the congestion window share segments, as TCP's
/// send buffer does; messages re-cut with a fixed-size framing), RTO = srtt + 4·rttvar with a 200 ms floor (Linux's
/// TCP_RTO_MIN) doubling on every timeout, fast retransmit after 3 acknowledgements that skip a segment, congestion
/// control on (slow start, halving on loss), acknowledgements sent at once (a quick-ack receiver; no Nagle), in-order
/// delivery with head-of-line blocking. Real TCP adds delayed ACKs (slower) and SACK, RACK and tail-loss probes (faster
/// recovery of a lost last segment); this model has none of them.</para>
/// <para>A message-oriented model (each 12-byte write its own segment under the congestion window) is far slower
/// (averages of seconds, as in "default" mode): that is KCP's congestion control starving a message queue, not TCP, so
/// it is not used as the baseline.</para>
/// <para>--link ikcp replaces the <see cref="LossyLink"/> with a replica of test.h's simulator (losses from a shuffled
/// bag of 100, FIFO delivery) to check that the link model is not what moves the figures.</para>
/// <para>Options (defaults): --messages 1000, --runs 3 (seeds 1..n, modes alternating), --loss 10 (round-trip %),
/// --rtt-min 60, --rtt-max 125 (ms), --every 20 (ms), --link lossy|ikcp.</para>
/// </remarks>
internal sealed class KcpLatency : IBenchmark
{
    private static readonly IPEndPoint ServerEndPoint = new(IPAddress.Loopback, 19003);
    private static readonly IPEndPoint ClientEndPoint = new(IPAddress.Loopback, 40001);

    public string Name => "kcp-latency";

    public string Description => "KCP default/normal/fast vs a TCP-like ARQ: round trips through 10% loss, 60-125 ms RTT (virtual time)";

    private sealed record Mode(string Name, Action<KcpOptions> Both, Action<KcpClientOptions>? Client = null);

    private sealed record Result(string Mode, int Seed, int Count, double AvgMs, double MaxMs, double P50Ms, double P99Ms, long Datagrams, long Retransmits);

    private static readonly Mode[] Modes =
    [
        new("default", o => Tune(o, noDelay: 0, fastResend: 0, congestion: true)),
        new("normal", o => Tune(o, noDelay: 0, fastResend: 0, congestion: false)),
        new("fast", o => Tune(o, noDelay: 2, fastResend: 2, congestion: false), c =>
        {
            c.MinRto = TimeSpan.FromMilliseconds(10);
            c.FastResend = 1;
        }),
        new("tcp-like", o =>
        {
            Tune(o, noDelay: 0, fastResend: 3, congestion: true);
            o.MinRto = TimeSpan.FromMilliseconds(200);
            // A byte stream, as TCP: writes queued behind the congestion window share segments.
            o.StreamMode = true;
            o.Framing = Framing.FixedSize(PayloadSize);
        }),
    ];

    private const int PayloadSize = 12;

    private static void Tune(KcpOptions o, int noDelay, int fastResend, bool congestion)
    {
        o.Mode = KcpMode.Normal;
        o.NoDelay = noDelay;
        o.Interval = TimeSpan.FromMilliseconds(10);
        o.FastResend = fastResend;
        o.CongestionControl = congestion;
        o.SendWindow = 128;
        o.ReceiveWindow = 128;
    }

    public Task<int> RunAsync(PerfArgs args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture; // RESULT lines parse the same everywhere
        int messages = args.Int("messages", 1000), runs = args.Int("runs", 3), every = args.Int("every", 20);
        bool ikcpSimulator = args.String("link", "lossy") == "ikcp";
        double loss = args.Double("loss", 10), rttMin = args.Double("rtt-min", 60), rttMax = args.Double("rtt-max", 125);
        var link = new LossyLinkOptions
        {
            LossRate = loss / 2 / 100,
            MinDelay = TimeSpan.FromMilliseconds(rttMin / 2),
            MaxDelay = TimeSpan.FromMilliseconds(rttMax / 2),
        };
        Console.WriteLine(($"kcp-latency: {messages} messages, one every {every} ms, {loss}% round-trip loss, RTT {rttMin}-{rttMax} ms " +
                              $"({link.LossRate:P1} loss and {link.MinDelay.TotalMilliseconds}-{link.MaxDelay.TotalMilliseconds} ms each way), " +
                              $"virtual time, {runs} runs per mode"));

        var results = new List<Result>();
        for (int seed = 1; seed <= runs; seed++)
        {
            foreach (var mode in Modes)
            {
                link.Seed = seed * 1000;
                var r = Run(mode, link, messages, TimeSpan.FromMilliseconds(every), seed, ikcpSimulator);
                results.Add(r);
                Console.WriteLine(($"  run {seed} {r.Mode,-9} avg {r.AvgMs,6:F0} ms  max {r.MaxMs,6:F0} ms  p50 {r.P50Ms,6:F0} ms  " +
                                      $"p99 {r.P99Ms,6:F0} ms  ({r.Count} round trips, {r.Datagrams} datagrams, {r.Retransmits} timeout resends)"));
            }
        }

        Console.WriteLine("medians (reference ikcp README, same simulator: default 740/1507, normal 156/571, fast 138/392 ms avg/max):");
        var medians = Modes.ToDictionary(m => m.Name, m =>
        {
            var mine = results.Where(r => r.Mode == m.Name).ToList();
            return (Avg: Median(mine.Select(r => r.AvgMs)), Max: Median(mine.Select(r => r.MaxMs)), P99: Median(mine.Select(r => r.P99Ms)));
        });
        foreach (var (name, m) in medians) Console.WriteLine(($"  {name,-9} avg {m.Avg,6:F0} ms  max {m.Max,6:F0} ms  p99 {m.P99,6:F0} ms"));
        var fast = medians["fast"];
        var tcp = medians["tcp-like"];
        double ratio = fast.Avg / tcp.Avg;
        double maxRatio = fast.Max / tcp.Max;
        Console.WriteLine(($"  fast / tcp-like: average {ratio:F3}, maximum {maxRatio:F3} (target: average at most 0.333{(ratio <= 1.0 / 3 ? ", met" : ", NOT met")})"));
        Console.WriteLine(($"RESULT kcp-latency avg_ms={fast.Avg:F0} max_ms={fast.Max:F0} tcp_avg_ms={tcp.Avg:F0} tcp_max_ms={tcp.Max:F0} " +
                              $"ratio={ratio:F3} max_ratio={maxRatio:F3} default_avg_ms={medians["default"].Avg:F0} default_max_ms={medians["default"].Max:F0} " +
                              $"normal_avg_ms={medians["normal"].Avg:F0} normal_max_ms={medians["normal"].Max:F0} messages={messages} runs={runs}"));
        return Task.FromResult(0);
    }

    private static Result Run(Mode mode, LossyLinkOptions linkOptions, int messages, TimeSpan every, int seed, bool ikcpSimulator)
    {
        var scheduler = new HistoricalScheduler(DateTimeOffset.UnixEpoch);
        using var link = new LossyLink(linkOptions, scheduler);
        var replica = new IkcpSimulatorLink(scheduler, (int)Math.Round(linkOptions.LossRate * 100), linkOptions.MinDelay, linkOptions.MaxDelay,
            linkOptions.Seed, ClientEndPoint, ServerEndPoint);
        DatagramChannel serverChannel = ikcpSimulator ? replica.B : new LossyLinkChannel(link.B, ServerEndPoint, ClientEndPoint);
        DatagramChannel clientChannel = ikcpSimulator ? replica.A : new LossyLinkChannel(link.A, ClientEndPoint, ServerEndPoint);
        var serverOptions = new KcpServerOptions { Schedulers = new SchedulerPool(scheduler), SilenceTimeout = null };
        var clientOptions = new KcpClientOptions { Schedulers = new SchedulerPool(scheduler), Reconnect = { Enabled = false } };
        mode.Both(serverOptions);
        mode.Both(clientOptions);
        mode.Client?.Invoke(clientOptions);

        var server = new KcpServer(serverOptions);
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        server.Start(serverChannel);
        var client = new KcpClient(clientOptions) { ChannelFactory = (_, _) => clientChannel };
        Session? session = null;
        client.Connect(ServerEndPoint).Subscribe(s => session = s);
        while (session is null && scheduler.Clock < DateTimeOffset.UnixEpoch.AddMinutes(1)) scheduler.AdvanceBy(TimeSpan.FromMilliseconds(10));
        if (session is null) throw new InvalidOperationException($"{mode.Name}: no handshake within a minute of virtual time");

        var histogram = new LongHistogram(TimeSpan.FromMinutes(10).Ticks / 10, 3); // microseconds
        double sum = 0, max = 0;
        int count = 0;
        client.Frames.Subscribe(f =>
        {
            long sentTicks = BinaryPrimitives.ReadInt64LittleEndian(f.Span[4..]);
            double rtt = (scheduler.Now.UtcTicks - sentTicks) / (double)TimeSpan.TicksPerMillisecond;
            histogram.RecordValue((long)(rtt * 1000));
            sum += rtt;
            max = Math.Max(max, rtt);
            count++;
        });
        int sent = 0;
        var payload = new byte[PayloadSize];
        using var sender = scheduler.SchedulePeriodic(every, () =>
        {
            if (sent == messages) return;
            BinaryPrimitives.WriteInt32LittleEndian(payload, sent++);
            BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(4), scheduler.Now.UtcTicks);
            _ = session.Send(payload);
        });
        var limit = scheduler.Now + TimeSpan.FromTicks(every.Ticks * messages) + TimeSpan.FromMinutes(5);
        while (count < messages && scheduler.Now < limit) scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100));
        if (count < messages) throw new InvalidOperationException($"{mode.Name}: {count}/{messages} round trips within the time limit");

        long retransmits = ((KcpSession)session).Engine.TimeoutRetransmissions;
        return new Result(mode.Name, seed, count, sum / count, max, histogram.GetValueAtPercentile(50) / 1000.0,
            histogram.GetValueAtPercentile(99) / 1000.0, link.A.Sent + link.B.Sent, retransmits);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

}
