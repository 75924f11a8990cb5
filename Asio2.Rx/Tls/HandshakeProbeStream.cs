namespace Asio2.Rx;

/// <summary>
/// The stream under an <c>SslStream</c>. During the handshake it remembers the first bytes the peer sent and whether
/// the peer closed, so a failure can say "plaintext", "truncated" or "not TLS" without parsing exception messages;
/// after the handshake it only forwards.
/// </summary>
internal sealed class HandshakeProbeStream(Stream inner) : Stream
{
    private readonly byte[] _head = new byte[16];
    private int _headLength;
    private long _bytesRead;
    private bool _sawEnd;
    private bool _watching = true;

    /// <summary>The first bytes received (up to 16).</summary>
    public ReadOnlySpan<byte> Head => _head.AsSpan(0, _headLength);

    /// <summary>Bytes received while watching.</summary>
    public long BytesRead => _bytesRead;

    /// <summary>True when the peer closed its side while watching.</summary>
    public bool SawEnd => _sawEnd;

    /// <summary>Called once the handshake is over: from then on reads are forwarded untouched.</summary>
    public void StopWatching() => _watching = false;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _watching ? WatchAsync(buffer, cancellationToken) : inner.ReadAsync(buffer, cancellationToken);

    private async ValueTask<int> WatchAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Record(buffer.Span[..n]);
        return n;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        if (_watching) Record(buffer[..n]);
        return n;
    }

    private void Record(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            _sawEnd = true;
            return;
        }
        _bytesRead += data.Length;
        int take = Math.Min(_head.Length - _headLength, data.Length);
        data[..take].CopyTo(_head.AsSpan(_headLength));
        _headLength += take;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
