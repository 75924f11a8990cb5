using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// The accept loop of the hand-written peer servers (the plain socket and <c>SslStream</c> baselines, the Pipelines echo):
/// a listener on 127.0.0.1, port 0, that sets <see cref="Socket.NoDelay"/> on each connection it accepts and hands it to
/// <c>serve</c>. Disposing it stops accepting and closes the connections it accepted.
/// </summary>
internal sealed class LoopbackListener : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly Action<Socket> _serve;
    private readonly List<Socket> _connections = [];

    /// <param name="serve">Starts serving one accepted connection; called on the accept loop, so it must not block.</param>
    public LoopbackListener(Action<Socket> serve)
    {
        _serve = serve;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptLoopAsync();
    }

    public int Port { get; }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try { socket = await _listener.AcceptAsync().ConfigureAwait(false); }
            catch (Exception) { return; }
            socket.NoDelay = true;
            lock (_connections) _connections.Add(socket);
            _serve(socket);
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_connections) foreach (var s in _connections) s.Dispose();
    }
}
