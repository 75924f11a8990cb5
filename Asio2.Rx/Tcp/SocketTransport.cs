using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>A transport over a connected stream <see cref="Socket"/>.</summary>
internal sealed class SocketTransport : Transport
{
    private readonly Socket _socket;
    private readonly SocketChannel _channel;
    private readonly EndPoint? _local;
    private readonly EndPoint? _remote;

    public SocketTransport(Socket socket)
    {
        _socket = socket;
        _channel = new SocketChannel(socket);
        // Cached: the properties throw once the socket is disposed, and logs ask for them after close.
        _local = socket.LocalEndPoint;
        _remote = socket.RemoteEndPoint;
    }

    public Socket Socket => _socket;
    public override string Name => "tcp";
    public override EndPoint? LocalEndPoint => _local;
    public override EndPoint? RemoteEndPoint => _remote;

    public override bool SupportsZeroByteReads => true;

    public override ValueTask StartAsync(Session session, CancellationToken cancellationToken)
    {
        _channel.Attach(session.Scheduler);
        return default;
    }

    public override Stream Detach()
    {
        _channel.Detach();
        return new NetworkStream(_socket, ownsSocket: true);
    }

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _channel.ReceiveAsync(buffer, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _channel.SendAsync(data, cancellationToken);

    public override void Shutdown()
    {
        // FIN after everything written; the socket is closed right after by Dispose.
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public override void Abort()
    {
        // Linger 0 makes close() send RST and drop unsent data.
        try { _socket.LingerState = new LingerOption(true, 0); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public override void Dispose()
    {
        _channel.Close();
        _socket.Dispose();
    }
}
