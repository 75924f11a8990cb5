using System.Net;

namespace Asio2.Rx;

/// <summary>
/// A <see cref="ReconnectingClient"/> that connects to a network endpoint: <see cref="TcpClient"/>,
/// <see cref="UdpClient"/> and <see cref="KcpClient"/>.
/// </summary>
public abstract class NetworkClient : ReconnectingClient
{
    private EndPoint? _target;

    private protected NetworkClient(SessionSettings settings, TimeSpan connectTimeout, ReconnectOptions reconnect)
        : base(settings, connectTimeout, reconnect)
    {
    }

    /// <summary>What <see cref="Connect(EndPoint)"/> was given; null before.</summary>
    private protected EndPoint? Target => _target;

    /// <summary>
    /// Starts connecting to <paramref name="host"/> (an address or a name) and <paramref name="port"/>, and keeps the
    /// client connected per its reconnect options. Returns the first connection (then completes), once it has started;
    /// it errors with <see cref="ConnectException"/> if reconnecting is off (or gives up) before any connection
    /// succeeded. Connecting starts at once, whether or not the result is observed; apply <c>Timeout</c> to bound the wait.
    /// </summary>
    public IObservable<Session> Connect(string host, int port) =>
        Connect(IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port));

    /// <summary>Starts connecting to <paramref name="endPoint"/>; see <see cref="Connect(string, int)"/>.</summary>
    public IObservable<Session> Connect(EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (Interlocked.CompareExchange(ref _target, endPoint, null) is not null)
            throw new InvalidOperationException("Connect was already called on this client; create another client for another target.");
        return StartConnecting();
    }

    private protected override string TargetName => _target?.ToString() ?? "(none)";
}
