using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.Timing;

/// <summary>
/// Closed sessions do not stay in memory behind their timers: a scheduler keeps a cancelled timer queued until its
/// due time, so each timer must hold nothing of its session once disposed (issue 8, item 2).
/// </summary>
public class ClosedSessionMemoryTests
{
    private const int Sessions = 64;

    /// <summary>Live sessions among <paramref name="sessions"/> after a full, forced collection. The loops run a no-op
    /// first: an <c>EventLoopScheduler</c> thread keeps the last batch of items it ran (here: the sessions' closes)
    /// referenced until it runs the next batch.</summary>
    private static async Task<int> CountLive(List<WeakReference> sessions, SchedulerPool pool)
    {
        for (int i = 0; i < pool.Count; i++)
            await Observable.Start(() => { }, pool.Next()).First("a no-op on each loop");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        lock (sessions) return sessions.Count(w => w.IsAlive);
    }

    [Fact]
    public async Task TlsClientsThatNeverHandshake_TheirClosedSessionsAreCollectable_BeforeTheHandshakeTimeout()
    {
        // Timers, read loops and the registry must let go of a closed session: none of these 64 may stay reachable
        // behind its cancelled 10 s handshake timer (a few are allowed for stack slots of threads still returning
        // from the last closes).
        using var pool = new SchedulerPool(2);
        await using var server = new TcpServer(new TcpServerOptions { Tls = TlsKit.ServerOptions(), Schedulers = pool });
        var weak = new List<WeakReference>();
        server.Sessions.Subscribe(s => { lock (weak) weak.Add(new WeakReference(s)); });
        var allClosed = server.Sessions.SelectMany(s => s.Closed).Take(Sessions).ToList().ToTask();
        var endPoint = server.Start("127.0.0.1", 0);

        for (int i = 0; i < Sessions; i++)
        {
            // A client that never reads nor answers: it connects, then resets.
            using var socket = await Wait.ConnectRaw(endPoint);
            socket.LingerState = new LingerOption(true, 0);
        }
        var reasons = await allClosed.WaitAsync(Wait.Long);

        Assert.All(reasons, r => Assert.Contains(r.Kind, new[] { CloseKind.HandshakeFailed, CloseKind.Reset, CloseKind.RemoteClose }));
        Assert.Equal(0, server.SessionCount);
        Assert.InRange(await CountLive(weak, pool), 0, 4);
    }

    [Fact]
    public async Task UdpSessionsClosedBeforeTheirSilenceTimeout_AreCollectable()
    {
        using var pool = new SchedulerPool(2);
        await using var server = new UdpServer(new UdpServerOptions { SilenceTimeout = TimeSpan.FromMinutes(5), Schedulers = pool });
        var weak = new List<WeakReference>();
        server.Sessions.Subscribe(s => { lock (weak) weak.Add(new WeakReference(s)); s.Close(); });
        var allClosed = server.Sessions.SelectMany(s => s.Closed).Take(Sessions).ToList().ToTask();
        var endPoint = server.Start("127.0.0.1", 0);

        var sockets = Enumerable.Range(0, Sessions).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)).ToList();
        try
        {
            foreach (var socket in sockets) await socket.SendToAsync(new byte[] { 1 }, SocketFlags.None, endPoint);
            await allClosed.WaitAsync(Wait.Long);
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }

        Assert.InRange(await CountLive(weak, pool), 0, 4);
    }
}
