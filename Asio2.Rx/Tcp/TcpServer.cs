using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// A TCP (or, with <see cref="TcpServerOptions.Tls"/>, TLS) server: accepts connections and announces each as a
/// <see cref="Session"/> on <see cref="SessionServer.Sessions"/>.
/// </summary>
/// <example>
/// <code>
/// await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
/// server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data));
/// IPEndPoint bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// Sessions are announced on the accept loop, one at a time; each starts reading after its notification returned.
/// Connections beyond <see cref="TcpServerOptions.MaxSessions"/> are closed as soon as they are accepted.
/// </remarks>
public sealed class TcpServer : SessionServer
{
    private readonly TcpServerOptions _options;
    private readonly TlsServerSettings? _tls;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _stopLock = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task? _stopTask;
    private int _started;

    /// <summary>Creates a server; nothing is bound until <see cref="Start(IPEndPoint)"/>.</summary>
    public TcpServer(TcpServerOptions? options = null)
        : this(options ?? new TcpServerOptions(), 0)
    {
    }

    private TcpServer(TcpServerOptions options, int _)
        : base(options.Resolve(options.Tls is null ? "tcp" : "tls"))
    {
        _options = options;
        _tls = options.Tls?.Resolve();
    }

    internal string TransportName => Settings.Transport;

    /// <summary>Builds each accepted connection's session (a protocol layer's own session type). Set before <c>Start</c>.</summary>
    internal StreamSessionFactory SessionFactory { get; init; } = StreamSession.Create;

    private IPEndPoint? _localEndPoint;

    /// <inheritdoc/>
    public override IPEndPoint? LocalEndPoint => _localEndPoint;

    /// <summary>Listens on <paramref name="endPoint"/>. Returns the bound endpoint (with the real port when 0 was asked).</summary>
    public override IPEndPoint Start(IPEndPoint endPoint)
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
        _localEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        Asio2Log.Listening(Settings.Logger, TransportName, _localEndPoint);
        _acceptLoop = AcceptLoopAsync(listener);
        return _localEndPoint;
    }

    /// <summary>How the accept loop takes the next connection: the listener's own accept. A seam for tests that make
    /// it fail the way an exhausted process does (EMFILE), with the real loop around it.</summary>
    internal Func<Socket, CancellationToken, ValueTask<Socket>> AcceptOne { get; set; } = static (listener, ct) => listener.AcceptAsync(ct);

    /// <summary>Accepts that failed for lack of a resource (descriptors, buffers) and were retried after a back-off.</summary>
    internal long AcceptFailures => Interlocked.Read(ref _acceptFailures);

    private long _acceptFailures;

    private async Task AcceptLoopAsync(Socket listener)
    {
        var backOff = TimeSpan.Zero;
        while (true)
        {
            Socket socket;
            try
            {
                socket = await AcceptOne(listener, _stopping.Token).ConfigureAwait(false);
                backOff = TimeSpan.Zero;
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue; // the client gave up before we accepted it; not the server's fault
            }
            catch (SocketException ex) when (IsExhaustion(ex.SocketErrorCode))
            {
                // Out of descriptors (EMFILE/ENFILE) or buffers: the listener is fine, the process is full. Wait for
                // sessions to close, then accept again (as Kestrel and nginx do); the kernel queues connections meanwhile.
                backOff = backOff == TimeSpan.Zero ? MinAcceptBackOff : TimeSpan.FromTicks(Math.Min(backOff.Ticks * 2, MaxAcceptBackOff.Ticks));
                Interlocked.Increment(ref _acceptFailures);
                Settings.Metrics.Error(TransportName, "accept_exhausted");
                Asio2Log.AcceptBackOff(Settings.Logger, ex, TransportName, ex.SocketErrorCode, backOff.TotalMilliseconds);
                if (!await BackOffAsync(backOff).ConfigureAwait(false)) return;
                continue;
            }
            catch (Exception ex)
            {
                Registry.Fail(ex, "the listening socket failed");
                return;
            }
            Accept(socket);
        }
    }

    private static readonly TimeSpan MinAcceptBackOff = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxAcceptBackOff = TimeSpan.FromSeconds(1);

    private static bool IsExhaustion(SocketError error) => error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;

    /// <summary>Waits <paramref name="delay"/> on a scheduler of the pool (virtual time under a TestScheduler); false when the server stopped meanwhile.</summary>
    private async Task<bool> BackOffAsync(TimeSpan delay)
    {
        try
        {
            await Observable.Timer(delay, Settings.Schedulers.Next()).ToTask(_stopping.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Accept(Socket socket)
    {
        if (Registry.Count >= _options.MaxSessions)
        {
            Settings.Metrics.Drop(TransportName, "max_sessions");
            socket.Dispose();
            return;
        }
        Session session;
        try
        {
            _options.Apply(socket);
            session = SessionFactory(CreateTransport(socket), Settings, Settings.Schedulers.Next());
        }
        catch (Exception ex)
        {
            // The connection died between accept and set-up (e.g. reset): drop it, keep serving.
            Asio2Log.AcceptSetupFailed(Settings.Logger, ex, TransportName);
            socket.Dispose();
            return;
        }
        Registry.TryAnnounce(session);
    }

    private Transport CreateTransport(Socket socket) => _tls is null ? new SocketTransport(socket) : new TlsTransport(socket, _tls);

    /// <inheritdoc/>
    public override Task StopAsync()
    {
        lock (_stopLock) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        // Every session starts closing before this returns its task (a Dispose under a TestScheduler finds their
        // closes queued); a connection the accept loop is still setting up is refused once stopping is set.
        var sessions = Registry.StopSessionsAsync();
        _stopping.Cancel();
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        await sessions.ConfigureAwait(false);
        Registry.Complete();
    }
}
