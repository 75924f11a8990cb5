using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

/// <summary>
/// The payload of one streamed send, read piece by piece. A piece returned by <see cref="NextAsync"/> is valid until
/// the next call (the send queue copies it before asking for more).
/// </summary>
internal abstract class ChunkSource : IDisposable
{
    /// <summary>Set while the send waits for its turn behind another streamed frame.</summary>
    public TaskCompletionSource? Granted { get; set; }

    /// <summary>The payload's length when known in advance (a length header needs it); null otherwise.</summary>
    public virtual long? Length => null;

    /// <summary>The next piece; empty at the end.</summary>
    public abstract ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken);

    /// <summary>The whole payload when it is already in one piece of memory.</summary>
    public virtual bool TryGetWhole(out ReadOnlyMemory<byte> data)
    {
        data = default;
        return false;
    }

    public virtual void Dispose()
    {
    }
}

internal sealed class MemoryChunks(ReadOnlyMemory<byte> data) : ChunkSource
{
    private bool _taken;

    public override long? Length => data.Length;

    public override ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken)
    {
        if (_taken) return default;
        _taken = true;
        return new(data);
    }

    public override bool TryGetWhole(out ReadOnlyMemory<byte> whole)
    {
        whole = data;
        return true;
    }
}

internal sealed class SequenceChunks(ReadOnlySequence<byte> data) : ChunkSource
{
    private ReadOnlySequence<byte>.Enumerator _segments = data.GetEnumerator();

    public override long? Length => data.Length;

    public override ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken)
    {
        while (_segments.MoveNext())
            if (!_segments.Current.IsEmpty) return new(_segments.Current);
        return default;
    }

    public override bool TryGetWhole(out ReadOnlyMemory<byte> whole)
    {
        whole = data.First;
        return data.IsSingleSegment;
    }
}

/// <summary>Reads a <see cref="Stream"/> into one pooled buffer of <paramref name="bufferSize"/> bytes, reused for every piece.</summary>
internal sealed class StreamChunks(Stream stream, int bufferSize) : ChunkSource
{
    private byte[]? _buffer;

    public override long? Length => stream.CanSeek ? stream.Length - stream.Position : null;

    public override async ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(bufferSize);
        int n = await stream.ReadAsync(_buffer.AsMemory(0, bufferSize), cancellationToken).ConfigureAwait(false);
        return _buffer.AsMemory(0, n);
    }

    public override void Dispose()
    {
        if (_buffer is { } b)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}

/// <summary>
/// Pieces pushed by an observable. An observable cannot be paused, so pieces that arrive faster than the peer reads
/// wait here by reference (they are the producer's immutable memory, not copies); subscribing starts when the send
/// gets its turn.
/// </summary>
internal sealed class ObservableChunks(IObservable<ReadOnlyMemory<byte>> chunks) : ChunkSource
{
    private readonly Channel<ReadOnlyMemory<byte>> _pieces = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(new UnboundedChannelOptions { SingleReader = true });
    private IDisposable? _subscription;

    public override async ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken)
    {
        _subscription ??= chunks.Subscribe(
            piece => _pieces.Writer.TryWrite(piece),
            error => _pieces.Writer.TryComplete(error),
            () => _pieces.Writer.TryComplete());
        var reader = _pieces.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var piece))
                if (!piece.IsEmpty) return piece;
        }
        return default;
    }

    public override void Dispose() => _subscription?.Dispose();
}

/// <summary>A growable pooled buffer for gathering a streamed payload that must go out whole.</summary>
internal sealed class PooledBuffer : IDisposable
{
    private byte[] _array = [];

    public int Length { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, Length);

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_array.Length - Length < data.Length)
        {
            var grown = ArrayPool<byte>.Shared.Rent(Math.Max(Math.Max(4096, _array.Length * 2), Length + data.Length));
            _array.AsSpan(0, Length).CopyTo(grown);
            Release();
            _array = grown;
        }
        data.CopyTo(_array.AsSpan(Length));
        Length += data.Length;
    }

    public void Dispose()
    {
        Release();
        _array = [];
        Length = 0;
    }

    private void Release()
    {
        if (_array.Length > 0) ArrayPool<byte>.Shared.Return(_array);
    }
}

/// <summary>
/// The completion of an awaited send: a pooled <see cref="IValueTaskSource"/>, so awaiting a send allocates nothing.
/// Continuations run asynchronously (the send queue completes waiters under its lock). Back to the pool once awaited.
/// </summary>
internal sealed class SendWaiter : IValueTaskSource
{
    private const int PoolLimit = 1024;
    private static readonly ConcurrentQueue<SendWaiter> s_pool = new();
    private static int s_pooled;
    [ThreadStatic] private static SendWaiter? t_cached;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    public static SendWaiter Rent()
    {
        var w = t_cached;
        if (w is not null)
        {
            t_cached = null;
            return w;
        }
        if (s_pool.TryDequeue(out w))
        {
            Interlocked.Decrement(ref s_pooled);
            return w;
        }
        return new SendWaiter();
    }

    public ValueTask Task => new(this, _core.Version);

    /// <summary>A completion and the waiter behind it: a pooled <see cref="SendWaiter"/>, or for <paramref name="asTask"/>
    /// a task source (a task's state changes as soon as it completes, which callers of <c>AsTask</c> may check).</summary>
    public static ValueTask Create(bool asTask, out object waiter)
    {
        if (asTask)
        {
            var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiter = source;
            return new ValueTask(source.Task);
        }
        var pooled = Rent();
        waiter = pooled;
        return pooled.Task;
    }

    /// <summary>Completes a waiter made by <see cref="Create"/>, with <paramref name="error"/> when not null.</summary>
    public static void Complete(object waiter, Exception? error)
    {
        if (waiter is SendWaiter pooled)
        {
            if (error is null) pooled.SetResult();
            else pooled.SetException(error);
        }
        else if (error is null) ((TaskCompletionSource)waiter).TrySetResult();
        else ((TaskCompletionSource)waiter).TrySetException(error);
    }

    public void SetResult() => _core.SetResult(true);

    public void SetException(Exception error) => _core.SetException(error);

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Return(this);
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private static void Return(SendWaiter w)
    {
        if (t_cached is null)
        {
            t_cached = w;
            return;
        }
        if (Interlocked.Increment(ref s_pooled) <= PoolLimit) s_pool.Enqueue(w);
        else Interlocked.Decrement(ref s_pooled);
    }
}
