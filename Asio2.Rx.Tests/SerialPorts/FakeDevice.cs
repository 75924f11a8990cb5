using System.Threading.Tasks.Sources;

namespace Asio2.Rx.Tests.SerialPorts;

/// <summary>
/// A stream standing for a serial device in virtual-time tests: reads wait until the test supplies bytes or makes
/// the device fail; writes are recorded. A pending read completes through a <see cref="ManualResetValueTaskSourceCore{TResult}"/>,
/// whose continuation runs inline on the test's thread even under xunit's synchronization context (a
/// TaskCompletionSource's would be posted to the thread pool), so the session's loops stay deterministic.
/// </summary>
internal sealed class FakeDevice : Stream, IValueTaskSource<int>
{
    private readonly object _lock = new();
    private ManualResetValueTaskSourceCore<int> _read;
    private bool _reading;
    private Memory<byte> _readInto;

    public List<byte> Written { get; } = [];

    public bool IsDisposed { get; private set; }

    /// <summary>True while the session waits in a read.</summary>
    public bool HasPendingRead
    {
        get { lock (_lock) return _reading; }
    }

    /// <summary>Hands <paramref name="data"/> to the pending read.</summary>
    public void Receive(ReadOnlySpan<byte> data)
    {
        TakePendingRead();
        data.CopyTo(_readInto.Span);
        _read.SetResult(data.Length);
    }

    /// <summary>Fails the pending read with <paramref name="error"/>, as System.IO.Ports does when the device goes away.</summary>
    public void Fail(Exception error)
    {
        TakePendingRead();
        _read.SetException(error);
    }

    /// <summary>Ends the pending read with 0 bytes.</summary>
    public void EndOfStream()
    {
        TakePendingRead();
        _read.SetResult(0);
    }

    private void TakePendingRead()
    {
        lock (_lock)
        {
            if (!_reading) throw new InvalidOperationException("no read is pending");
            _reading = false;
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            _read.Reset();
            _reading = true;
            _readInto = buffer;
            return new ValueTask<int>(this, _read.Version);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            Written.AddRange(buffer.ToArray());
        }
        return default;
    }

    protected override void Dispose(bool disposing)
    {
        bool reading;
        lock (_lock)
        {
            IsDisposed = true;
            reading = _reading;
            _reading = false;
        }
        if (reading) _read.SetException(new ObjectDisposedException("The port is closed."));
        base.Dispose(disposing);
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
