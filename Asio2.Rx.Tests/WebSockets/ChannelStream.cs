namespace Asio2.Rx.Tests.WebSockets;

/// <summary>One end of an in-memory duplex byte stream built on Core's <see cref="ByteChannel"/>: a write resumes the
/// other end's waiting reader on the writer's thread, so virtual-time tests see its effect before the write returns.</summary>
internal sealed class ChannelStream(ByteChannel input, ByteChannel output) : Stream
{
    public static (ChannelStream A, ChannelStream B) CreatePair()
    {
        var aToB = new ByteChannel(InMemory.WindowBytes);
        var bToA = new ByteChannel(InMemory.WindowBytes);
        return (new ChannelStream(bToA, aToB), new ChannelStream(aToB, bToA));
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    private TaskCompletionSource? _nextRead;

    /// <summary>Completes when the reader next asks for bytes: a reader that processes input before reading again has
    /// then processed everything it read before.</summary>
    public Task NextReadStarted()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _nextRead, tcs);
        return tcs.Task;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = input.ReadAsync(buffer);
        Interlocked.Exchange(ref _nextRead, null)?.TrySetResult();
        return read;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            output.Complete(null);
            input.Complete(new ConnectionResetException("the stream was disposed"));
        }
        base.Dispose(disposing);
    }
}
