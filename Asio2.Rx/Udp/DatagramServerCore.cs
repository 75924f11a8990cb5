using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// What <see cref="UdpServer"/> and <c>KcpServer</c> share beyond <see cref="SessionServer"/>: one <see cref="DatagramChannel"/> whose datagrams
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
    private readonly SessionRegistry _registry;
    private readonly int _maxSessions;
    private readonly object _stopLock = new();
    private DatagramChannel? _channel;
    private Task? _stopTask;
    private int _addressCount;
    private int _started;

    protected DatagramServerCore(SessionRegistry registry, SessionSettings settings, int maxSessions)
    {
        _registry = registry;
        Settings = settings;
        _maxSessions = maxSessions;
        Drops = new DropCounter(settings.Transport, settings.Metrics);
    }

    public SessionSettings Settings { get; }

    public string TransportName => Settings.Transport;

    public DropCounter Drops { get; }

    public DatagramChannel Channel => _channel ?? throw new InvalidOperationException("The server was not started.");

    public IPEndPoint? LocalEndPoint => _channel?.LocalEndPoint;

    public Session? FindSession(IPEndPoint remote) => FindByKey(remote.Serialize());

    /// <summary>The open session registered under <paramref name="key"/>, or null.</summary>
    protected Session? FindByKey(SocketAddress key) => _byAddress.TryGetValue(key, out var s) && s.IsOpen ? s : null;

    /// <summary>A snapshot of the open sessions.</summary>
    protected IReadOnlyList<Session> GetOpenSessions() => _registry.GetSessions();

    /// <summary>Binds a UDP socket and starts serving on it.</summary>
    public IPEndPoint Start(IPEndPoint endPoint, DatagramSocketSettings socket)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (Volatile.Read(ref _started) != 0) throw new InvalidOperationException("The server was already started.");
        return Start(SocketDatagramChannel.Bind(endPoint, TransportName, socket, Settings.Logger, metrics: Settings.Metrics));
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
        Asio2Log.Listening(Settings.Logger, TransportName, channel.LocalEndPoint);
        channel.Completion.ContinueWith(static (t, state) => ((DatagramServerCore)state!)._registry.Fail(t.Exception!.GetBaseException(), "the server's socket failed"),
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
        if (_registry.IsStopping)
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
    protected bool Accept(SocketAddress key, Session session, bool forgetAddressOnFinish) =>
        _registry.TryAnnounce(
            session,
            register: () =>
            {
                while (true)
                {
                    if (_byAddress.TryAdd(key, session))
                    {
                        Interlocked.Increment(ref _addressCount);
                        return;
                    }
                    if (_byAddress.TryGetValue(key, out var old) && _byAddress.TryUpdate(key, session, old)) return;
                }
            },
            unregister: forgetAddressOnFinish ? s => ForgetAddress(key, s) : null);

    /// <summary>Forgets the endpoint of <paramref name="session"/>, unless another session replaced it already.</summary>
    protected void ForgetAddress(SocketAddress key, Session session)
    {
        if (_byAddress.TryRemove(new KeyValuePair<SocketAddress, Session>(key, session))) Interlocked.Decrement(ref _addressCount);
    }

    /// <summary>Completes when the session no longer needs the channel (KCP: its linger and FIN are done).</summary>
    protected virtual Task WhenReleased(Session session) => Task.CompletedTask;

    public Task StopAsync()
    {
        lock (_stopLock) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        var sessions = await _registry.StopSessionsAsync().ConfigureAwait(false);
        await Task.WhenAll(sessions.Select(WhenReleased)).ConfigureAwait(false);
        if (_channel is { } channel)
        {
            channel.Dispose();
            try { await channel.Completion.ConfigureAwait(false); }
            catch (Exception) { } // already reported on Sessions
        }
        _registry.Complete();
    }
}
