using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>The opt-in cookie handshake: a SYN buys a same-size COOKIE and no server state; echoing it connects.</summary>
internal sealed class KcpCookieSample : ISample
{
    public string Name => "kcp-cookie";
    public string Description => "KCP cookie handshake: stateless until the client proves its address, amplification 1x";
    public int Order => 43;

    public async Task RunAsync(string[] args)
    {
        await using var server = new KcpServer(new KcpServerOptions { Handshake = KcpHandshakeMode.Cookie });
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var bound = server.Start("127.0.0.1", 0);

        // A bare SYN (what a spoofer sends on a victim's behalf): the reply is no larger, and the server keeps nothing.
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            raw.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            byte[] syn = [0, 0, 0, 1, 0, 0, 0, 0, 0x08, 0, 0, 0];
            uint total = 0; // asio2's checksum: ones' complement of the little-endian word sum of bytes 0..9, big-endian
            for (int i = 0; i < 10; i += 2) total += (uint)(syn[i] | syn[i + 1] << 8);
            while (total >> 16 != 0) total = (total & 0xFFFF) + (total >> 16);
            ushort sum = (ushort)~total;
            syn[10] = (byte)(sum >> 8);
            syn[11] = (byte)sum;
            await raw.SendToAsync(syn, bound);
            var reply = new byte[64];
            var got = await raw.ReceiveFromAsync(reply, new IPEndPoint(IPAddress.Any, 0)).WaitAsync(TimeSpan.FromSeconds(5));
            Console.WriteLine($"bare SYN of {syn.Length} bytes: a {got.ReceivedBytes}-byte cookie back, {server.SessionCount} sessions on the server");
        }

        // A real client echoes the cookie and connects.
        await using var client = new KcpClient(new KcpClientOptions { Handshake = KcpHandshakeMode.Cookie });
        var back = client.Frames.FirstAsync().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        await client.Send("hello through the cookie");
        Console.WriteLine($"client: {(await back.WaitAsync(TimeSpan.FromSeconds(5))).Text}; {server.SessionCount} session on the server");
    }
}
