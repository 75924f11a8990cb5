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
/// A TCP server: accepts connections and announces each as a <see cref="Session"/> on <see cref="Sessions"/>.
/// </summary>
/// <example>
/// <code>
/// using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter("\n") });
/// server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data));
/// IPEndPoint bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// <see cref="Sessions"/> is hot: a subscriber sees sessions accepted after it subscribed. Each session starts
/// reading only after its notification returned, so <c>Sessions.SelectMany(s =&gt; s.Frames)</c> sees every frame.
/// Notifications are serialized (one at a time), on the accept loop. <see cref="Sessions"/> completes when the
/// server stops and errors only if the listening socket fails.
/// </remarks>
public sealed class TcpServer : IDisposable, IAsyncDisposable
{
    private readonly TcpServerOptions _options;
    private readonly SessionSettings _settings;
    private readonly TlsServerSettings? _tls;
    private readonly Subject<Session> _sessions = new();
    private readonly object _announceLock = new();
    private readonly ConcurrentDictionary<long, Session> _live = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task? _stopTask;
    private int _started;

    /// <summary>Creates a server; nothing is bound until <see cref="Start(IPEndPoint)"/>.</summary>
    public TcpServer(TcpServerOptions? options = null)
    {
        _options = options ?? new TcpServerOptions();
        _tls = _options.Tls?.Resolve();
        _settings = _options.Resolve(TransportName);
        Sessions = _sessions.AsObservable();
    }

    internal string TransportName => _tls is null ? "tcp" : "tls";

    /// <summary>Accepted sessions, hot. Completes on stop; errors only when the listener fails.</summary>
    public IObservable<Session> Sessions { get; }

    /// <summary>The bound address, once started.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Sessions open now.</summary>
    public int SessionCount => _live.Count;

    /// <summary>A snapshot of the open sessions.</summary>
    public IReadOnlyList<Session> GetSessions() => _live.Values.ToArray();

    /// <summary>The open session with this id, or null.</summary>
    public Session? FindSession(long id) => _live.TryGetValue(id, out var s) ? s : null;

    /// <summary>Sends the bytes to every open session; returns how many sessions accepted them.</summary>
    public int Broadcast(ReadOnlySpan<byte> data)
    {
        int n = 0;
        foreach (var s in _live.Values)
            if (!s.Send(data).IsRejected) n++;
        return n;
    }

    /// <summary>Sends the UTF-8 text to every open session; returns how many sessions accepted it.</summary>
    public int Broadcast(string text) => Broadcast(Encoding.UTF8.GetBytes(text));

    /// <summary>Listens on <paramref name="host"/> (an address or a name; "" or "*" for every interface) and
    /// <paramref name="port"/> (0 picks a free port). Returns the bound endpoint.</summary>
    public IPEndPoint Start(string host, int port) => Start(new IPEndPoint(ResolveListenAddress(host), port));

    /// <summary>Listens on every interface (IPv6 and IPv4) on <paramref name="port"/>.</summary>
    public IPEndPoint Start(int port) => Start(new IPEndPoint(IPAddress.IPv6Any, port));

    /// <summary>Listens on <paramref name="endPoint"/>. Returns the bound endpoint (with the real port when 0 was asked).</summary>
    public IPEndPoint Start(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The server was already started.");
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6) listener.DualMode = _options.DualMode;
            listener.Bind(endPoint);
            listener.Listen(_options.Backlog);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _settings.Logger.LogInformation("{Transport} server listening on {EndPoint}", TransportName, LocalEndPoint);
        _acceptLoop = AcceptLoopAsync(listener);
        return LocalEndPoint;
    }

    private static IPAddress ResolveListenAddress(string host)
    {
        if (string.IsNullOrEmpty(host) || host == "*") return IPAddress.IPv6Any;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return Dns.GetHostAddresses(host).First();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue; // the client gave up before we accepted it; not the server's fault
            }
            catch (Exception ex)
            {
                _settings.Logger.LogError(ex, "{Transport} server: the listening socket failed", TransportName);
                Asio2Metrics.Error(TransportName, "listener");
                lock (_announceLock) _sessions.OnError(ex);
                return;
            }
            Accept(socket);
        }
    }

    private void Accept(Socket socket)
    {
        if (_live.Count >= _options.MaxSessions)
        {
            Asio2Metrics.Drop(TransportName, "max_sessions");
            socket.Dispose();
            return;
        }
        StreamSession session;
        try
        {
            _options.Apply(socket);
            session = new StreamSession(CreateTransport(socket), _settings, _settings.Schedulers.Next());
        }
        catch (Exception ex)
        {
            // The connection died between accept and set-up (e.g. reset): drop it, keep serving.
            _settings.Logger.LogDebug(ex, "{Transport} server: dropping a connection that failed during set-up", TransportName);
            socket.Dispose();
            return;
        }
        _live[session.Id] = session;
        session.Finished = s => _live.TryRemove(s.Id, out _);
        Announce(session);
    }

    private Transport CreateTransport(Socket socket) => _tls is null ? new SocketTransport(socket) : new TlsTransport(socket, _tls);

    /// <summary>Delivers the session to subscribers, then lets it read (the no-lost-first-frame guarantee).</summary>
    private void Announce(Session session)
    {
        try
        {
            lock (_announceLock) _sessions.OnNext(session);
        }
        catch (Exception ex)
        {
            Asio2Metrics.UserCodeFault(TransportName);
            _settings.Logger.LogError(ex, "{Session}: a Sessions subscriber threw; closing this session only", session);
            session.Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
        }
        session.Start();
    }

    /// <summary>
    /// Stops accepting, closes every session gracefully (queued sends are flushed within the drain timeout), waits
    /// for their streams to complete, then completes <see cref="Sessions"/>. Safe to call more than once.
    /// </summary>
    public Task StopAsync()
    {
        lock (_announceLock) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        _stopping.Cancel();
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        var sessions = _live.Values.ToArray();
        foreach (var s in sessions) s.Shutdown(new CloseReason(CloseKind.Stopped), graceful: true);
        await Task.WhenAll(sessions.Select(s => s.Closed.LastOrDefaultAsync().ToTask())).ConfigureAwait(false);
        lock (_announceLock) _sessions.OnCompleted();
    }

    /// <summary>Same as <see cref="StopAsync"/>, blocking until it finishes.</summary>
    public void Dispose() => StopAsync().GetAwaiter().GetResult();

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());
}
