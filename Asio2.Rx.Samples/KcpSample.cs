using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>asio2's reliable UDP (use_kcp): the TCP session API over KCP, with asio2's handshake.</summary>
internal sealed class KcpSample : ISample
{
    public string Name => "kcp";
    public string Description => "KCP (reliable UDP) echo server and client, asio2 handshake, messages up to 60 KiB";
    public int Order => 40;

    public async Task RunAsync(string[] args)
    {
        // Server: the same shape as TCP; each Send is one KCP message, each message one frame.
        await using var server = new KcpServer(new KcpServerOptions { Mode = KcpMode.Fast });
        server.Sessions.Subscribe(s => Console.WriteLine($"server: handshake from {s.RemoteEndPoint}, session {s.Id}"));
        server.Sessions.SelectMany(s => s.Closed.Select(r => (s, r)))
              .Subscribe(x => Console.WriteLine($"server: session {x.s.Id} closed ({x.r})"));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var serverSession = server.Sessions.FirstAsync().Replay();
        serverSession.Connect();
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: listening on udp {bound}");

        // Client: connect is the handshake (SYN every 500 ms until the SYN-ACK); frames survive reconnects.
        var client = new KcpClient(new KcpClientOptions { Mode = KcpMode.Fast, ConnectTimeout = TimeSpan.FromSeconds(5) });
        int[] sizes = [5, 1400, 60 * 1024];
        var echoes = client.Frames.Take(sizes.Length).Do(f => Console.WriteLine($"client: echo of {f.Length} bytes")).ToList().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        foreach (int size in sizes) _ = client.Send(new byte[size]);
        await echoes.WaitAsync(TimeSpan.FromSeconds(5));

        // A graceful disconnect delivers what is queued, then sends asio2's FIN: the server sees RemoteClose.
        await client.DisconnectAsync();
        await serverSession.SelectMany(s => s.Closed).Timeout(TimeSpan.FromSeconds(5)); // Closed replays its reason
    }
}
