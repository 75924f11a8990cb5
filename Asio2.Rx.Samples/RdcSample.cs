using System.Reactive.Linq;
using System.Text;

namespace Asio2.Rx.Samples;

/// <summary>asio2's rdc in Rx form: request/response matching over a line protocol the application owns.</summary>
internal sealed class RdcSample : ISample
{
    public string Name => "rdc";
    public string Description => "request/response matching (rdc) over a line protocol: replies found by id, in any order";
    public int Order => 91;

    // "id:text" lines; the id of a request and of its reply are the part before the colon.
    private static readonly Func<ReadOnlyMemory<byte>, string> RequestId = payload => Encoding.UTF8.GetString(payload.Span).Split(':')[0];
    private static readonly Func<Frame, string?> ReplyId = frame => frame.Text.Split(':')[0];

    public async Task RunAsync(string[] args)
    {
        // A server that answers every second request first: replies come back out of order.
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        server.Sessions.Subscribe(s => s.Frames.Select(f => f.Text).Buffer(2).Subscribe(pair =>
        {
            foreach (var line in pair.Reverse()) s.Send(line.ToUpperInvariant() + "\n");
        }));
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') });
        var session = await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));

        // Each request is a cold observable of its reply; Timeout is plain Rx.
        var requests = new[] { "1:hello", "2:asio2", "3:rx", "4:rdc" }
            .Select(line => session.Request(Encoding.UTF8.GetBytes(line + "\n"), RequestId, ReplyId)
                .Select(reply => (line, reply: reply.Text))
                .Timeout(TimeSpan.FromSeconds(5)))
            .Merge();
        foreach (var (line, reply) in await requests.ToList())
            Console.WriteLine($"client: '{line}' -> '{reply}'");
    }
}
