using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>
/// A TCP client whose connections are a stream: it connects, reconnects with back-off when the connection ends
/// (unless told not to), and forwards the frames of every connection to one <see cref="ReconnectingClient.Frames"/> stream.
/// </summary>
/// <example>
/// <code>
/// await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') });
/// client.Frames.Select(f => f.Text).Subscribe(Console.WriteLine);
/// await client.Connect("127.0.0.1", port);
/// await client.Send("hello\n");
/// </code>
/// </example>
public sealed class TcpClient : NetworkClient
{
    private readonly TcpClientOptions _options;
    private readonly TlsClientSettings? _tls;

    /// <summary>Creates a client; nothing happens until <see cref="NetworkClient.Connect(string, int)"/>.</summary>
    public TcpClient(TcpClientOptions? options = null)
        : this(options ?? new TcpClientOptions(), 0)
    {
    }

    private TcpClient(TcpClientOptions options, int _)
        : base(options.Resolve(options.Tls is null ? "tcp" : "tls"), options.ConnectTimeout, options.Reconnect)
    {
        _options = options;
        _tls = options.Tls?.Resolve();
        Connector = ConnectSocketAsync;
    }

    /// <summary>Builds each connection's session (a protocol layer's own session type).</summary>
    internal StreamSessionFactory SessionFactory { get; init; } = StreamSession.Create;

    /// <summary>Opens a transport to an endpoint. Replaced in tests to run connects in virtual time.</summary>
    internal Func<EndPoint, CancellationToken, ValueTask<Transport>> Connector { get; set; }

    private protected override async ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken)
    {
        var transport = await Connector(Target!, cancellationToken).ConfigureAwait(false);
        return SessionFactory(transport, Settings, Scheduler);
    }

    private async ValueTask<Transport> ConnectSocketAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = endPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp); // dual-mode: a name may resolve to IPv4 or IPv6
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            _options.Apply(socket);
            return _tls is null ? new SocketTransport(socket) : new TlsTransport(socket, _tls, _tls.TargetHostFor(endPoint));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
