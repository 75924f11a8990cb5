using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Asio2.Rx;

/// <summary>
/// The stream between <c>System.Net.WebSockets</c> (which encodes and decodes frames) and the connection. It gives
/// the bytes the HTTP layer read past the upgrade request first, counts what arrives (for the session's activity and
/// metrics) and what is written, lets the send queue's writer gather a whole batch of frames into one write, injects keep-alive pings,
/// and notes the close frame this side sent, so the session can report the exact code.
/// </summary>
/// <remarks>
/// <c>ManagedWebSocket</c> writes every frame with a single <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
/// call under its own send lock. This stream keeps writes whole too: each is appended to the open batch or written to
/// the connection under <see cref="_writeLock"/>, so frames never interleave, whoever writes them. One reader at a time.
/// </remarks>
internal sealed class WebSocketWire : Stream
{
    private readonly Stream _inner;
    private readonly bool _isServer;
    private readonly Action<int> _onReceived;
    private readonly Action<int> _onSent;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly object _batchLock = new();
    private ReadOnlyMemory<byte> _prefix;

    // Read-ahead: ManagedWebSocket reads a frame header (up to 14 bytes) and then its payload with separate reads; from
    // a socket stream each would be a receive call. One read of up to ReadAheadSize bytes serves them from memory
    // instead (rented while it holds bytes or waits for them, returned when drained).
    private const int ReadAheadSize = 16 * 1024;
    private byte[]? _readAhead;
    private int _readStart, _readEnd;
    private GrowableBuffer _batch = new();
    private GrowableBuffer _spare = new();
    private bool _batching;
    private int _disposed;

    // Server side: where the client's frames start, to refuse unmasked ones (RFC 6455 §5.1: System.Net accepts them).
    private readonly byte[] _header = new byte[14];
    private int _headerHave;
    private int _headerNeed = 2;
    private long _payloadLeft;
    private Action? _onUnmasked;
    private readonly bool _deflate;
    private bool _unusualFrameSeen;
    private bool _readingStopped;
    private readonly TaskCompletionSource<int> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WebSocketWire(Stream inner, ReadOnlyMemory<byte> buffered, bool isServer, bool deflate, Action<int> onReceived, Action<int> onSent)
    {
        _inner = inner;
        _deflate = deflate;
        _prefix = buffered;
        _isServer = isServer;
        _onReceived = onReceived;
        _onSent = onSent;
    }

    /// <summary>Server side: called (once) when the client sends an unmasked frame. Nothing from that frame on is read.</summary>
    public Action? OnUnmasked
    {
        set => _onUnmasked = value;
    }

    /// <summary>Server side: true (once) when the bytes handed to the reader since the last call include the start of a
    /// frame that is not a plain data frame (control, reserved opcode or bit). System.Net may answer such a frame by
    /// failing the connection inside the next receive, so the messages before it are delivered (and answered) first.</summary>
    public bool TakeUnusualFrameSeen()
    {
        if (!_unusualFrameSeen) return false;
        _unusualFrameSeen = false;
        return true;
    }

    /// <summary>The status code of the close frame this side sent (1005 for one without a code), or null.</summary>
    public int? SentCloseCode { get; private set; }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readingStopped) return await _closed.Task.ConfigureAwait(false); // after a violation: nothing more, until disposed
        int n;
        if (!_prefix.IsEmpty)
        {
            n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer.Span);
            _prefix = _prefix[n..];
        }
        else if (_readEnd > _readStart || buffer.Length < ReadAheadSize)
        {
            if (_readEnd == _readStart)
            {
                _readAhead ??= ArrayPool<byte>.Shared.Rent(ReadAheadSize);
                _readStart = 0;
                _readEnd = await _inner.ReadAsync(_readAhead, cancellationToken).ConfigureAwait(false);
            }
            n = Math.Min(buffer.Length, _readEnd - _readStart);
            _readAhead.AsSpan(_readStart, n).CopyTo(buffer.Span);
            _readStart += n;
            if (_readStart == _readEnd)
            {
                ArrayPool<byte>.Shared.Return(_readAhead!);
                _readAhead = null;
                _readStart = _readEnd = 0;
            }
        }
        else
        {
            n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        if (n > 0)
        {
            _onReceived(n);
            if (_isServer && FindUnmaskedFrame(buffer.Span[..n]) is int cut)
            {
                _readingStopped = true;
                _onUnmasked?.Invoke();
                if (cut == 0) return await _closed.Task.ConfigureAwait(false);
                return cut;
            }
        }
        return n;
    }

    /// <summary>Follows the client's frame headers through <paramref name="data"/>; returns where an unmasked frame
    /// starts in it (0 if it started in an earlier read), or null.</summary>
    private int? FindUnmaskedFrame(ReadOnlySpan<byte> data)
    {
        int i = 0;
        while (i < data.Length)
        {
            if (_payloadLeft > 0)
            {
                int skip = (int)Math.Min(_payloadLeft, data.Length - i);
                i += skip;
                _payloadLeft -= skip;
                continue;
            }
            _header[_headerHave++] = data[i++];
            // A control frame, a reserved opcode or a reserved bit (RSV1 is deflate's when negotiated).
            if (_headerHave == 1 && ((_header[0] & 0x0F) >= 3 || (_header[0] & (_deflate ? 0x30 : 0x70)) != 0)) _unusualFrameSeen = true;
            if (_headerHave == 2)
            {
                if ((_header[1] & 0x80) == 0) return Math.Max(0, i - 2);
                int lengthCode = _header[1] & 0x7F;
                _headerNeed = 2 + (lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0) + 4;
            }
            if (_headerHave == _headerNeed)
            {
                int lengthCode = _header[1] & 0x7F;
                _payloadLeft = lengthCode == 126 ? BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2))
                    : lengthCode == 127 ? (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)), long.MaxValue)
                    : lengthCode;
                _headerHave = 0;
                _headerNeed = 2;
            }
        }
        return null;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        NoteCloseFrame(buffer.Span);
        lock (_batchLock)
        {
            if (_batching)
            {
                buffer.Span.CopyTo(_batch.GetSpan(buffer.Length));
                _batch.Advance(buffer.Length);
                return default;
            }
        }
        return WriteLockedAsync(buffer);
    }

    private async ValueTask WriteLockedAsync(ReadOnlyMemory<byte> buffer)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _inner.WriteAsync(buffer).ConfigureAwait(false);
            _onSent(buffer.Length);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>From now until <see cref="EndBatchAsync"/>, frames are gathered instead of written.</summary>
    public void BeginBatch()
    {
        lock (_batchLock) _batching = true;
    }

    /// <summary>Writes the gathered frames in one write. Takes the write lock first, so a frame written directly
    /// after the batch closed cannot overtake it.</summary>
    public async ValueTask EndBatchAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            GrowableBuffer batch;
            lock (_batchLock)
            {
                _batching = false;
                batch = _batch;
                (_batch, _spare) = (_spare, _batch);
            }
            if (batch.Length > 0)
            {
                try
                {
                    await _inner.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
                    _onSent(batch.Length);
                }
                finally
                {
                    batch.Clear();
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes a ping frame (empty payload; masked when this is the client, RFC 6455 §5.3).</summary>
    public ValueTask SendPingAsync()
    {
        Span<byte> frame = stackalloc byte[6];
        frame[0] = 0x89; // FIN + ping
        int length = 2;
        if (!_isServer)
        {
            frame[1] = 0x80; // masked, length 0
            RandomNumberGenerator.Fill(frame[2..6]);
            length = 6;
        }
        return WriteAsync(frame[..length].ToArray());
    }

    /// <summary>Records the code of a close frame this side writes (whole frames only: see the remarks).</summary>
    private void NoteCloseFrame(ReadOnlySpan<byte> frame)
    {
        if (SentCloseCode is not null || frame.Length < 2 || (frame[0] & 0x0F) != 0x8) return;
        bool masked = (frame[1] & 0x80) != 0;
        int length = frame[1] & 0x7F;
        int offset = masked ? 6 : 2;
        if (length < 2 || frame.Length < offset + 2)
        {
            SentCloseCode = 1005;
            return;
        }
        Span<byte> code = [frame[offset], frame[offset + 1]];
        if (masked)
        {
            code[0] ^= frame[2];
            code[1] ^= frame[3];
        }
        SentCloseCode = BinaryPrimitives.ReadUInt16BigEndian(code);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _closed.TrySetResult(0);
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
