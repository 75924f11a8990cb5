using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// What <see cref="UdpServer"/> and <c>KcpServer</c> share: one <see cref="DatagramChannel"/> whose datagrams
/// are demultiplexed by source address to one session per remote endpoint, the <c>Sessions</c> stream, lookup,
/// broadcast, <c>MaxSessions</c> and a graceful stop. Subclasses decide what a datagram from a new endpoint means.
/// </summary>
/// <remarks>
/// <para>Threading: <see cref="OnDatagram"/> runs on the channel's receive loop, one datagram at a time, so only that
/// loop creates sessions. Sessions are removed from the lookup tables on their own schedulers when they finish.</para>
/// <para>A new session is registered and announced under one lock, then started, then given its first datagram:
/// <c>Sessions.SelectMany(s =&gt; s.Frames)</c> sees every datagram.</para>
/// </remarks>
internal abstract class DatagramServerCore
{
    private readonly ConcurrentDictionary<SocketAddress, Session> _byAddress = new();
    private readonly ConcurrentDictionary<long, Session> _live = new();
    private readonly Subject<Session> _sessions = new();
    private readonly object _announceLock = new();
    private readonly int _maxSessions;
    private DatagramChannel? _channel;
    private Task? _stopTask;
    private int _addressCount;
    private int _started;
    private bool _stopping; // written under _announceLock
    private bool _failed;

    protected DatagramServerCore(SessionSettings settings, int maxSessions)
    {
        Settings = settings;
        _maxSessions = maxSessions;
        Drops = new DropCounter(settings.Transport);
        Sessions = _sessions.AsObservable();
    }

    public SessionSettings Settings { get; }

    public string TransportName => Settings.Transport;

    public DropCounter Drops { get; }

    public IObservable<Session> Sessions { get; }

    public DatagramChannel Channel => _channel ?? throw new InvalidOperationException("The server was not started.");

    public IPEndPoint? LocalEndPoint => _channel?.LocalEndPoint;

    public int SessionCount => _live.Count;

    public IReadOnlyList<Session> GetSessions() => _live.Values.ToArray();

    public Session? FindSession(long id) => _live.TryGetValue(id, out var s) ? s : null;

    public Session? FindSession(IPEndPoint remote) => _byAddress.TryGetValue(remote.Serialize(), out var s) && s.IsOpen ? s : null;

    public int Broadcast(ReadOnlySpan<byte> data)
    {
        int n = 0;
        foreach (var s in _live.Values)
            if (!s.Send(data).IsRejected) n++;
        return n;
    }

    public int Broadcast(string text) => Broadcast(Encoding.UTF8.GetBytes(text));

    /// <summary>Binds a UDP socket and starts serving on it.</summary>
    public IPEndPoint Start(IPEndPoint endPoint, DatagramSocketSettings socket)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (Volatile.Read(ref _started) != 0) throw new InvalidOperationException("The server was already started.");
        return Start(SocketDatagramChannel.Bind(endPoint, TransportName, socket, Settings.Logger));
    }

    /// <summary>Starts serving on <paramref name="channel"/> (a socket, or an in-process channel in tests).</summary>
    public IPEndPoint Start(DatagramChannel channel)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            channel.Dispose();
            throw new InvalidOperationException("The server was already started.");
        }
        _channel = channel;
        Settings.Logger.LogInformation("{Transport} server listening on {EndPoint}", TransportName, channel.LocalEndPoint);
        channel.Completion.ContinueWith(static (t, state) => ((DatagramServerCore)state!).OnChannelFailed(t.Exception!.GetBaseException()),
            this, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        channel.Start(OnDatagram);
        return channel.LocalEndPoint;
    }

    /// <summary>Handles one datagram, on the receive loop; the span and address are valid only during the call.</summary>
    protected abstract void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source);

    /// <summary>The session registered for <paramref name="source"/> (open or still closing), or null.</summary>
    protected Session? Lookup(SocketAddress source) => _byAddress.TryGetValue(source, out var s) ? s : null;

    /// <summary>A cheap early check before building a session for a new endpoint: false (and counted) when the server
    /// is stopping or full.</summary>
    protected bool HasRoom()
    {
        if (Volatile.Read(ref _stopping))
        {
            Drops.Drop("stopping");
            return false;
        }
        if (Volatile.Read(ref _addressCount) >= _maxSessions)
        {
            Drops.Drop("max_sessions");
            return false;
        }
        return true;
    }

    /// <summary>
    /// Registers <paramref name="session"/> under <paramref name="key"/> (replacing a closing session of the same
    /// endpoint), announces it and starts it. False when the server began stopping meanwhile; the session was discarded.
    /// </summary>
    /// <param name="key">The endpoint, a copy that is never mutated.</param>
    /// <param name="session">The new session, not yet started.</param>
    /// <param name="forgetAddressOnFinish">True: the endpoint is forgotten when the session finishes. False: the
    /// subclass calls <see cref="ForgetAddress"/> itself later (KCP keeps acknowledging while it lingers).</param>
    protected bool Accept(SocketAddress key, Session session, bool forgetAddressOnFinish)
    {
        lock (_announceLock)
        {
            if (_stopping)
            {
                Drops.Drop("stopping");
                session.Discard();
                return false;
            }
            _live[session.Id] = session;
            while (true)
            {
                if (_byAddress.TryAdd(key, session))
                {
                    Interlocked.Increment(ref _addressCount);
                    break;
                }
                if (_byAddress.TryGetValue(key, out var old) && _byAddress.TryUpdate(key, session, old)) break;
            }
            session.Finished = forgetAddressOnFinish
                ? s => { _live.TryRemove(s.Id, out _); ForgetAddress(key, s); }
                : s => _live.TryRemove(s.Id, out _);
            try
            {
                _sessions.OnNext(session);
            }
            catch (Exception ex)
            {
                Asio2Metrics.UserCodeFault(TransportName);
                Settings.Logger.LogError(ex, "{Session}: a Sessions subscriber threw; closing this session only", session);
                session.Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
            }
        }
        session.Start();
        return true;
    }

    /// <summary>Forgets the endpoint of <paramref name="session"/>, unless another session replaced it already.</summary>
    protected void ForgetAddress(SocketAddress key, Session session)
    {
        if (_byAddress.TryRemove(new KeyValuePair<SocketAddress, Session>(key, session))) Interlocked.Decrement(ref _addressCount);
    }

    /// <summary>Completes when the session no longer needs the channel (KCP: its linger and FIN are done).</summary>
    protected virtual Task WhenReleased(Session session) => Task.CompletedTask;

    private void OnChannelFailed(Exception error)
    {
        Session[] sessions;
        lock (_announceLock)
        {
            if (_stopping) return;
            _stopping = true;
            _failed = true;
            sessions = _live.Values.ToArray();
            _sessions.OnError(error);
        }
        var reason = new CloseReason(CloseKind.Error, error, "the server's socket failed");
        foreach (var s in sessions) s.Shutdown(reason, graceful: false);
    }

    public Task StopAsync()
    {
        lock (_announceLock) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        Session[] sessions;
        lock (_announceLock)
        {
            _stopping = true;
            sessions = _live.Values.ToArray();
        }
        foreach (var s in sessions) s.Shutdown(new CloseReason(CloseKind.Stopped), graceful: true);
        await Task.WhenAll(sessions.Select(s => s.Closed.LastOrDefaultAsync().ToTask())).ConfigureAwait(false);
        await Task.WhenAll(sessions.Select(WhenReleased)).ConfigureAwait(false);
        if (_channel is { } channel)
        {
            channel.Dispose();
            try { await channel.Completion.ConfigureAwait(false); }
            catch (Exception) { } // already reported on Sessions
        }
        lock (_announceLock)
        {
            if (!_failed) _sessions.OnCompleted();
        }
    }

    /// <summary>An address to listen on: "" or "*" for every interface, an address, or a host name.</summary>
    public static IPAddress ResolveListenAddress(string host)
    {
        if (string.IsNullOrEmpty(host) || host == "*") return IPAddress.IPv6Any;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return Dns.GetHostAddresses(host).First();
    }
}
