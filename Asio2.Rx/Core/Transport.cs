using System.Net;
using System.Reactive.Concurrency;

namespace Asio2.Rx;

/// <summary>
/// A connected byte stream under a <see cref="StreamSession"/>: a socket, an <c>SslStream</c>, a serial port, an
/// in-memory pipe. Reads and writes may run concurrently (one of each at a time).
/// </summary>
internal abstract class Transport : IDisposable
{
    public virtual EndPoint? LocalEndPoint => null;
    public virtual EndPoint? RemoteEndPoint => null;

    /// <summary>The transport's name for metrics and logs.</summary>
    public abstract string Name { get; }

    /// <summary>Runs before the first read (a TLS handshake, for example). Writes must wait for it themselves.</summary>
    public virtual ValueTask StartAsync(Session session, CancellationToken cancellationToken) => default;

    /// <summary>Reads at least one byte; 0 means the peer closed its side.</summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes all of <paramref name="data"/>.</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Graceful close: the peer sees an orderly end of stream after the data already written.</summary>
    public abstract void Shutdown();

    /// <summary>Abortive close: the peer sees a reset; unsent data is lost.</summary>
    public abstract void Abort();

    /// <summary>True when a zero-byte <see cref="ReceiveAsync"/> waits for data without consuming it (sockets,
    /// <c>SslStream</c>), so an idle session need not hold a receive buffer.</summary>
    public virtual bool SupportsZeroByteReads => false;

    /// <summary>Gives up the connection for a hand-over: the raw duplex stream, which the caller owns from now on.
    /// The transport is not used (nor disposed) afterwards.</summary>
    public virtual Stream Detach() => throw new NotSupportedException($"A {Name} transport cannot be detached.");

    /// <summary>Maps this transport's exceptions to close reasons.</summary>
    public virtual CloseReason Classify(Exception ex) => ErrorClassifier.Classify(ex);

    public abstract void Dispose();
}

/// <summary>
/// Builds the session for a new stream connection (accepted by a <see cref="TcpServer"/>, connected by a
/// <see cref="TcpClient"/>, or taken over from another session with <see cref="DetachedConnection"/>). A protocol layer
/// supplies its own to own connections from the start: its own session type, or a sniffing session that looks at the
/// first bytes and detaches into the right one. The default is <see cref="StreamSession.Create"/>.
/// </summary>
internal delegate Session StreamSessionFactory(Transport transport, SessionSettings settings, IScheduler scheduler);

/// <summary>A transport over any <see cref="Stream"/> (TLS, serial ports, pipes).</summary>
internal class StreamTransport : Transport
{
    private readonly string _name;
    private readonly EndPoint? _local;
    private readonly EndPoint? _remote;

    public StreamTransport(Stream stream, string name, EndPoint? local = null, EndPoint? remote = null)
    {
        Stream = stream;
        _name = name;
        _local = local;
        _remote = remote;
    }

    protected Stream Stream { get; }

    public override string Name => _name;
    public override EndPoint? LocalEndPoint => _local;
    public override EndPoint? RemoteEndPoint => _remote;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        Stream.ReadAsync(buffer, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        Stream.WriteAsync(data, cancellationToken);

    public override Stream Detach() => Stream;

    public override void Shutdown() => Stream.Dispose();

    public override void Abort() => Stream.Dispose();

    public override void Dispose() => Stream.Dispose();
}
