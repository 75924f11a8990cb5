namespace Asio2.Rx;

/// <summary>Read-only, forward-only stream adapters for response bodies, so every streamed body goes through the
/// session's <c>SendAsync(Stream)</c> (read as the send queue drains).</summary>
internal abstract class BodyStream(Stream inner) : ReadOnlyStream
{
    protected Stream Inner => inner;

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Exactly <c>length</c> bytes of the inner stream (a Content-Length body); a stream that ends early is an
/// error, since the framing already promised the length.</summary>
internal sealed class LengthLimitedStream(Stream inner, long length) : BodyStream(inner)
{
    private long _left = length;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_left == 0 || buffer.IsEmpty) return 0;
        int n = await Inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
        if (n == 0) throw new IOException($"the body stream ended {_left} bytes short of its announced length");
        _left -= n;
        return n;
    }
}

/// <summary>The inner stream in the chunked transfer coding (RFC 9112 §7.1): each read becomes one chunk, then the last chunk.</summary>
internal sealed class ChunkedEncodingStream(Stream inner) : BodyStream(inner)
{
    private const int Overhead = 12; // "ffffffff\r\n" before, "\r\n" after
    private byte[] _pending = [];
    private int _offset;
    private bool _done;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset == _pending.Length)
        {
            if (_done) return 0;
            var data = new byte[Math.Max(buffer.Length - Overhead, 256)];
            int n = await Inner.ReadAsync(data, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                _done = true;
                _pending = "0\r\n\r\n"u8.ToArray();
            }
            else
            {
                var head = System.Text.Encoding.ASCII.GetBytes($"{n:X}\r\n");
                _pending = [.. head, .. data.AsSpan(0, n), (byte)'\r', (byte)'\n'];
            }
            _offset = 0;
        }
        int take = Math.Min(buffer.Length, _pending.Length - _offset);
        _pending.AsSpan(_offset, take).CopyTo(buffer.Span);
        _offset += take;
        return take;
    }
}

/// <summary>A read-only, forward-only stream: everything but reading refused.</summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}
