using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>KCP with no handshake (raw conv): what plain ikcp peers (kcp-go, kcp2k, game servers) speak.</summary>
internal sealed class KcpRawConvSample : ISample
{
    public string Name => "kcp-raw";
    public string Description => "KCP raw-conv mode: no handshake, a conv allow-list, garbage dropped and counted";
    public int Order => 41;

    public async Task RunAsync(string[] args)
    {
        const uint conv = 0x11223344;
        // Server: sessions keyed by endpoint + conv; the first well-formed segment of an allowed conv opens one.
        await using var server = new KcpServer(new KcpServerOptions
        {
            Handshake = KcpHandshakeMode.None,
            Mode = KcpMode.Fast,
            AllowedConvs = [conv],
            MaxSessions = 100,
            SilenceTimeout = TimeSpan.FromSeconds(30), // raw conv has no close signal: silence ends a session
        });
        server.Sessions.Subscribe(s => Console.WriteLine($"server: first segment from {s.RemoteEndPoint}, session {s.Id}"));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: raw conv on udp {bound}, allowing conv 0x{conv:x8}");

        // A client with another conv is not served: its segments are dropped and counted.
        await using (var stranger = new KcpClient(new KcpClientOptions { Handshake = KcpHandshakeMode.None, Conv = 7, Reconnect = { Enabled = false } }))
        {
            var session = await stranger.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
            await stranger.Send("let me in"); // handed to KCP and sent; nobody will acknowledge it
            session.Abort();                  // so do not wait for an acknowledgement when leaving
        }

        // The client with the agreed conv: connecting opens the socket, no round trip.
        await using var client = new KcpClient(new KcpClientOptions { Handshake = KcpHandshakeMode.None, Mode = KcpMode.Fast, Conv = conv });
        var echoes = client.Frames.Take(2).Select(f => f.Text).ToList().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        _ = client.Send("hello");
        _ = client.Send("world");
        foreach (var text in await echoes.WaitAsync(TimeSpan.FromSeconds(5))) Console.WriteLine($"client: echo \"{text}\"");
        Console.WriteLine($"server: {server.SessionCount} session(s), {server.DroppedDatagrams} datagram(s) dropped");
    }
}
