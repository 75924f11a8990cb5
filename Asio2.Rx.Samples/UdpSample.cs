using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>asio2's udp_server/udp_client and a connectionless endpoint, in Rx form.</summary>
internal sealed class UdpSample : ISample
{
    public string Name => "udp";
    public string Description => "UDP echo server (a session per remote endpoint), client, and a connectionless endpoint";
    public int Order => 30;

    public async Task RunAsync(string[] args)
    {
        // Server: a session per remote endpoint; every datagram is a frame, every Send a datagram.
        await using var server = new UdpServer(new UdpServerOptions { SilenceTimeout = TimeSpan.FromSeconds(60) });
        server.Sessions.Subscribe(s => Console.WriteLine($"server: new session {s.Id} for {s.RemoteEndPoint}"));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: listening on udp {bound}");

        // Client: a socket connected to the server.
        await using var client = new UdpClient();
        var replies = client.Frames.Select(f => f.Text).Take(3).Do(t => Console.WriteLine($"client: got '{t}'")).ToList().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        foreach (var word in new[] { "hello", "asio2", "rx" }) await client.Send(word);
        await replies.WaitAsync(TimeSpan.FromSeconds(5));

        // Connectionless: send to anyone, receive from anyone.
        using var endpoint = new UdpEndpoint();
        endpoint.Bind("127.0.0.1", 0);
        var echo = endpoint.Received.FirstAsync();
        endpoint.SendTo(bound, "from a connectionless endpoint");
        var datagram = await echo.Timeout(TimeSpan.FromSeconds(5));
        Console.WriteLine($"endpoint: '{datagram.Text}' back from {datagram.RemoteEndPoint}; the server has {server.SessionCount} sessions");
    }
}
