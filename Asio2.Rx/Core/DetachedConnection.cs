using System.Net;
using System.Reactive.Concurrency;

namespace Asio2.Rx;

/// <summary>
/// A connection taken over from a session by <see cref="Session.DetachAsync"/>: the raw duplex stream, the bytes the
/// session had read but not delivered, and what a new owner needs to carry on (addresses, the pinned scheduler, the
/// TLS handshake). The new owner disposes <see cref="Stream"/>.
/// </summary>
public sealed class DetachedConnection
{
    internal DetachedConnection(Stream stream, ReadOnlyMemory<byte> buffered, EndPoint? localEndPoint, EndPoint? remoteEndPoint,
        IScheduler scheduler, TlsHandshakeInfo? tls)
    {
        Stream = stream;
        Buffered = buffered;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        Scheduler = scheduler;
        Tls = tls;
    }

    /// <summary>The raw duplex stream: a <see cref="System.Net.Sockets.NetworkStream"/> for TCP, the
    /// <see cref="System.Net.Security.SslStream"/> for TLS, the port's stream for a serial port.</summary>
    public Stream Stream { get; }

    /// <summary>Bytes read from the transport but not delivered as frames (the frames after the one whose handler
    /// detached, and any incomplete frame). They come before anything further read from <see cref="Stream"/>.</summary>
    public ReadOnlyMemory<byte> Buffered { get; }

    /// <summary>The local address of the connection, when the transport has one.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address, when the transport has one.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The session's pinned scheduler, so that a session built on this connection keeps the pin.</summary>
    public IScheduler Scheduler { get; }

    /// <summary>The TLS handshake's outcome, for a TLS connection; null otherwise.</summary>
    public TlsHandshakeInfo? Tls { get; }

    /// <summary>A transport over this connection whose first reads return <see cref="Buffered"/>.</summary>
    internal Transport ToTransport(string name) =>
        new StreamTransport(Buffered.IsEmpty ? Stream : new PrefixedStream(Buffered, Stream), name, LocalEndPoint, RemoteEndPoint);

    /// <summary>A stream that reads <c>prefix</c> first, then the inner stream; writes go to the inner stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty || buffer.IsEmpty) return inner.Read(buffer);
            return TakePrefix(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _prefix.IsEmpty || buffer.IsEmpty ? inner.ReadAsync(buffer, cancellationToken) : new ValueTask<int>(TakePrefix(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int TakePrefix(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
