using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>Live KCP statistics: a value any time, and a stream sampled on the session's scheduler.</summary>
internal sealed class KcpStatsSample : ISample
{
    public string Name => "kcp-stats";
    public string Description => "KCP statistics: RTT, RTO, windows, retransmissions, bytes in flight, drops";
    public int Order => 42;

    public async Task RunAsync(string[] args)
    {
        await using var server = new KcpServer(new KcpServerOptions { Mode = KcpMode.Fast });
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data))); // echo
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new KcpClient(new KcpClientOptions { Mode = KcpMode.Fast });
        const int messages = 200;
        var echoes = client.Frames.Take(messages).ToList().ToTask(); // subscribe now: Frames is hot
        var session = await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));

        // Sampled on the session's scheduler, so every value is consistent; it completes when the session closes.
        using var sampling = session.SampleKcpStats(TimeSpan.FromMilliseconds(50)).Take(3)
            .Subscribe(s => Console.WriteLine($"client: sample: {s.SegmentsInFlight} segments ({s.BytesInFlight} bytes) in flight, cwnd {s.CongestionWindow}"));
        for (int i = 0; i < messages; i++) _ = session.Send(new byte[4000]);
        await echoes.WaitAsync(TimeSpan.FromSeconds(10));

        var stats = session.KcpStats(); // a value, any time (exact on the session's scheduler)
        Console.WriteLine($"client: srtt {stats.SmoothedRtt.TotalMilliseconds} ms (±{stats.RttVariance.TotalMilliseconds}), rto {stats.RetransmitTimeout.TotalMilliseconds} ms, " +
            $"windows snd {stats.SendWindow} / rcv {stats.ReceiveWindow} / remote {stats.RemoteWindow}");
        Console.WriteLine($"client: {stats.SegmentsSent} segments sent, {stats.TimeoutRetransmissions} timeout and {stats.FastRetransmissions} fast retransmissions, " +
            $"{stats.DroppedDatagrams.Values.Sum()} datagrams dropped");
    }
}
