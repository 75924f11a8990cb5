using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using HdrHistogram;

namespace Asio2.Rx.Perf;

/// <summary>
/// ICMP echo round trip to 127.0.0.1: <see cref="Icmp.Ping(string, PingOptions?)"/> against a hand-written raw-socket
/// ping (send a request, block on the reply), alternating, same count and interval. Needs root (raw sockets).
/// </summary>
internal sealed class PingLatency : IBenchmark
{
    public string Name => "ping-latency";

    public string Description => "Icmp.Ping RTT to 127.0.0.1 vs a plain raw-socket ping loop (needs root)";

    public async Task<int> RunAsync(PerfArgs args)
    {
        int count = args.Int("count", 500);
        int intervalMs = args.Int("interval-ms", 10);
        int pairs = args.Int("pairs", 3);
        Console.WriteLine($"ping-latency: {count} pings of 127.0.0.1 every {intervalMs} ms per run, {pairs} pairs (baseline, Asio2.Rx alternating); " +
                          $"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, in-process, unpinned");
        var baseline = new List<(double Avg, long P50, long P99)>();
        var rx = new List<(double Avg, long P50, long P99)>();
        var ratios = new List<double>();
        for (int i = 0; i < pairs; i++)
        {
            var b = Summarize(RawPing(count, intervalMs));
            var r = Summarize(await RxPing(count, intervalMs));
            baseline.Add(b);
            rx.Add(r);
            ratios.Add(r.Avg / b.Avg);
            Console.WriteLine($"pair {i + 1}: baseline avg {b.Avg:F1} us p50 {b.P50} us p99 {b.P99} us | Asio2.Rx avg {r.Avg:F1} us p50 {r.P50} us p99 {r.P99} us | ratio {r.Avg / b.Avg:F2}");
        }
        double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
        double bAvg = Median(baseline.Select(x => x.Avg)), rAvg = Median(rx.Select(x => x.Avg)), ratio = Median(ratios);
        Console.WriteLine($"RESULT ping-latency avg_us={rAvg:F1} baseline_avg_us={bAvg:F1} ratio={ratio:F2} " +
                          $"p50_us={Median(rx.Select(x => (double)x.P50))} p99_us={Median(rx.Select(x => (double)x.P99))} count={count}");
        return 0;
    }

    private static (double Avg, long P50, long P99) Summarize(List<double> microseconds)
    {
        var h = new LongHistogram(TimeStamp.Seconds(10), 3);
        foreach (var us in microseconds) h.RecordValue(Math.Max(1, (long)us));
        return (microseconds.Average(), h.GetValueAtPercentile(50), h.GetValueAtPercentile(99));
    }

    private static async Task<List<double>> RxPing(int count, int intervalMs)
    {
        var replies = await Icmp.Ping("127.0.0.1", new PingOptions { Count = count, Interval = TimeSpan.FromMilliseconds(intervalMs) })
            .Where(r => !r.TimedOut)
            .ToList();
        return replies.Select(r => r.RoundTripTime.TotalMicroseconds).ToList();
    }

    /// <summary>The simplest correct ping: one raw socket, send, then receive until our reply (the socket also sees
    /// our own request), timed with a Stopwatch.</summary>
    private static List<double> RawPing(int count, int intervalMs)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp) { ReceiveTimeout = 1000 };
        var target = new IPEndPoint(IPAddress.Loopback, 0);
        ushort id = (ushort)Environment.ProcessId;
        var request = new byte[8 + 24];
        var reply = new byte[1500];
        var rtts = new List<double>(count);
        for (ushort seq = 0; seq < count; seq++)
        {
            request[0] = 8; request[1] = 0; // echo request
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(2), 0);
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), id);
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), seq);
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(2), Checksum(request));
            long start = Stopwatch.GetTimestamp();
            socket.SendTo(request, target);
            while (true)
            {
                int n;
                try { n = socket.Receive(reply); }
                catch (SocketException) { break; } // timed out: counted as lost
                int ihl = (reply[0] & 0x0F) * 4;
                if (n < ihl + 8 || reply[ihl] != 0) continue; // not an echo reply (e.g. our own request)
                if (BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(ihl + 4)) != id || BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(ihl + 6)) != seq) continue;
                rtts.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                break;
            }
            Thread.Sleep(intervalMs); // the interval between pings of this benchmark's baseline, not a wait for a result
        }
        return rtts;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if ((data.Length & 1) == 1) sum += (uint)data[^1] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
