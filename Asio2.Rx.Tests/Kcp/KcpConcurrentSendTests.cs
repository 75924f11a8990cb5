using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// Sends made off the session's scheduler (a worker thread, <see cref="SessionServer.Broadcast(ReadOnlySpan{byte})"/>)
/// while the scheduler is busy with the same session's datagrams: the write hand-over must not race the engine.
/// </summary>
public sealed class KcpConcurrentSendTests
{
    private const int Clients = 6;
    private const int MessagesPerClient = 3_000;
    private const int Broadcasts = 600;

    [Fact]
    public async Task EchoUnderLoad_WithSendsFromWorkerThreadsAndBroadcasts_EveryMessageArrives_NoSessionCloses()
    {
        await using var server = new KcpServer(new KcpServerOptions { MaxSendQueueBytes = 64 * 1024 * 1024 });
        var serverCloses = new List<CloseReason>();
        server.Sessions.Subscribe(s =>
        {
            s.Closed.Subscribe(r => { lock (serverCloses) serverCloses.Add(r); });
            s.Frames.Subscribe(f => f.Session.Send(f.Data)); // echo, on the session's scheduler
        });
        var announced = server.Sessions.Take(Clients).ToList().First("every client's server session");
        var bound = server.Start("127.0.0.1", 0);

        var clients = new List<KcpClient>();
        var sessions = new List<Session>();
        var arrivals = new List<Task<IList<byte[]>>>();
        var clientCloses = new List<CloseReason>();
        for (int c = 0; c < Clients; c++)
        {
            var client = new KcpClient(new KcpClientOptions { MaxSendQueueBytes = 64 * 1024 * 1024, Reconnect = { Enabled = false } });
            client.Disconnects.Subscribe(r => { lock (clientCloses) clientCloses.Add(r); });
            arrivals.Add(client.Frames.Select(f => f.Data.ToArray()).Take(MessagesPerClient + Broadcasts).ToList().ToTask());
            sessions.Add(await client.Connect(bound).First("a handshake"));
            clients.Add(client);
        }
        await announced;

        // Each client sends from a worker thread and waits for each send to reach KCP, so nearly every write is handed
        // over from that thread while the scheduler drains the echoes and acknowledgements of the previous ones.
        var senders = sessions.Select((session, c) => Task.Run(async () =>
        {
            for (int i = 0; i < MessagesPerClient; i++) await session.Send(Message(c, i));
        })).ToList();
        // Meanwhile another thread broadcasts to every server session: sends made off each session's scheduler.
        var broadcaster = Task.Run(async () =>
        {
            for (int i = 0; i < Broadcasts; i++)
            {
                Assert.Equal(Clients, server.Broadcast(Message(-1, i)));
                if (i % 8 == 7) await Task.Yield();
            }
        });
        await Task.WhenAll(senders.Append(broadcaster)).WaitAsync(Wait.Long);
        var received = await Task.WhenAll(arrivals).WaitAsync(TimeSpan.FromSeconds(120));

        for (int c = 0; c < Clients; c++)
        {
            // Echoes come back in order, broadcasts in order; the two interleave.
            var echoes = received[c].Where(m => m[0] != 0xFF).ToList();
            var broadcasts = received[c].Where(m => m[0] == 0xFF).ToList();
            Assert.Equal(Enumerable.Range(0, MessagesPerClient).Select(i => Message(c, i)), echoes);
            Assert.Equal(Enumerable.Range(0, Broadcasts).Select(i => Message(-1, i)), broadcasts);
        }
        Assert.Empty(clientCloses);
        Assert.Empty(serverCloses);
        Assert.All(sessions, s => Assert.True(s.IsOpen));
        foreach (var client in clients) await client.DisposeAsync();
    }

    /// <summary>Client <paramref name="client"/>'s message <paramref name="index"/> (client −1: a broadcast), 8..200 bytes.</summary>
    private static byte[] Message(int client, int index)
    {
        var m = new byte[8 + index * 31 % 193];
        m[0] = (byte)client;
        BitConverter.TryWriteBytes(m.AsSpan(1), index);
        for (int i = 5; i < m.Length; i++) m[i] = (byte)(index + i);
        return m;
    }
}
