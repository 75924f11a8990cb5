using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;

namespace Asio2.Rx.Samples;

/// <summary>Read credit around asynchronous work, and a hand-over: a line protocol that upgrades to a raw byte stream.</summary>
internal sealed class HandOverSample : ISample
{
    public string Name => "handover";
    public string Description => "SelectAsync holds reading during async work; DetachAsync upgrades a line session to a raw stream";
    public int Order => 15;

    public async Task RunAsync(string[] args)
    {
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.Subscribe(s => s.Frames
            // One line at a time per session; while a step runs the session reads nothing more.
            .SelectAsync(async (f, ct) =>
            {
                if (f.Text == "UPGRADE")
                {
                    _ = f.Session.Send("OK\n");
                    var connection = await f.Session.DetachAsync(); // the lines after this one are not delivered
                    _ = EchoRawAsync(connection);
                    return "UPGRADE (now raw)";
                }
                await Task.Yield(); // stands for real asynchronous work (a database, a file)
                _ = f.Session.Send(f.Text.ToUpperInvariant() + "\n");
                return f.Text;
            })
            .Subscribe(line => Console.WriteLine($"server: handled '{line}'")));
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new TcpClient(new TcpClientOptions { Reconnect = { Enabled = false } }); // raw framing
        const string expected = "HELLO\nOK\nraw bytes\n";
        var text = new StringBuilder();
        var received = client.Frames.Select(f => text.Append(f.Text).ToString())
            .FirstAsync(t => t.Length >= expected.Length).ToTask();
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        await client.Send("hello\nUPGRADE\nraw bytes\n"); // one packet: the upgrade and the raw bytes after it
        Console.WriteLine($"client: got '{(await received.WaitAsync(TimeSpan.FromSeconds(5))).Replace("\n", "\\n")}'");
    }

    /// <summary>The new owner of the connection: echoes raw bytes, the ones read before the hand-over first.</summary>
    private static async Task EchoRawAsync(DetachedConnection connection)
    {
        await using var stream = connection.Stream;
        Console.WriteLine($"server: detached with {connection.Buffered.Length} bytes already read");
        await stream.WriteAsync(connection.Buffered);
        var buffer = new byte[4096];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0) await stream.WriteAsync(buffer.AsMemory(0, n));
    }
}
