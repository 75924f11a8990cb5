using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>asio2's TCP echo server and client, in Rx form.</summary>
internal sealed class TcpSample : ISample
{
    public string Name => "tcp";
    public string Description => "TCP echo server and client, line framing, reconnecting client";
    public int Order => 10;

    public async Task RunAsync(string[] args)
    {
        // Server: every line of every session is echoed back.
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.Subscribe(s => Console.WriteLine($"server: session {s.Id} from {s.RemoteEndPoint}"));
        server.Sessions.SelectMany(s => s.Closed.Select(reason => (s, reason)))
              .Subscribe(x => Console.WriteLine($"server: session {x.s.Id} closed ({x.reason})"));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Text + "\n")));
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: listening on {bound}");

        // Client: frames are a stream that survives reconnects.
        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') });
        var replies = client.Frames.Select(f => f.Text).Take(3).Do(t => Console.WriteLine($"client: got '{t}'")).ToList().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        foreach (var word in new[] { "hello", "asio2", "rx" }) await client.Send(word + "\n");
        var got = await replies.WaitAsync(TimeSpan.FromSeconds(5));
        Console.WriteLine($"client: {got.Count} echoes received");
    }
}
