using System.Threading.Tasks.Sources;
using System.Net;

namespace Asio2.Rx;

/// <summary>
/// Connected pairs of sessions without sockets: framing, RPC, timeouts, reconnect logic and rate limits run over
/// them entirely in virtual time.
/// </summary>
/// <example>
/// <code>
/// var scheduler = new TestScheduler();
/// var options = new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) };
/// var pair = InMemory.CreatePair(options);
/// pair.B.Frames.Subscribe(f => Console.WriteLine(f.Text));
/// pair.Start();
/// pair.A.Send("hi\n");
/// scheduler.AdvanceBy(1);   // "hi" is delivered
/// </code>
/// </example>
/// <remarks>
/// Bytes move synchronously: a <c>Send</c> on one side runs the other side's read loop on the sending thread up to
/// the point where it schedules the frames, so a test that owns the scheduler sees them after one
/// <c>AdvanceBy</c>. Each direction buffers at most <see cref="WindowBytes"/>; past that the writer waits, as TCP
/// flow control would make it.
/// </remarks>
public static class InMemory
{
    /// <summary>Bytes one direction buffers before the sender waits: 64 KiB, about a TCP window.</summary>
    public const int WindowBytes = 64 * 1024;

    /// <summary>Creates a connected pair; call <see cref="InMemoryPair.Start"/> after subscribing.</summary>
    public static InMemoryPair CreatePair(SessionOptions? a = null, SessionOptions? b = null)
    {
        var aToB = new ByteChannel(WindowBytes);
        var bToA = new ByteChannel(WindowBytes);
        var optionsA = a ?? new SessionOptions();
        var optionsB = b ?? a ?? new SessionOptions();
        var settingsA = optionsA.Resolve("memory");
        var settingsB = optionsB.Resolve("memory");
        var endA = new PipeEndPoint("A");
        var endB = new PipeEndPoint("B");
        var sa = new StreamSession(new PipeTransport(bToA, aToB, endA, endB), settingsA, settingsA.Schedulers.Next());
        var sb = new StreamSession(new PipeTransport(aToB, bToA, endB, endA), settingsB, settingsB.Schedulers.Next());
        return new InMemoryPair(sa, sb);
    }

    /// <summary>Names one end of an in-memory pair.</summary>
    private sealed class PipeEndPoint(string name) : EndPoint
    {
        public override string ToString() => $"memory:{name}";
    }

    /// <summary>One end of a pair: reads what the other end writes.</summary>
    private sealed class PipeTransport(ByteChannel input, ByteChannel output, EndPoint local, EndPoint remote) : Transport
    {
        public override string Name => "memory";
        public override bool SupportsZeroByteReads => true;
        public override EndPoint? LocalEndPoint => local;
        public override EndPoint? RemoteEndPoint => remote;

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => input.ReadAsync(buffer);

        public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => output.WriteAsync(data);

        public override void Shutdown()
        {
            output.Complete(null);
            input.Complete(new ConnectionResetException("the other end of the in-memory pair is closed"));
        }

        public override void Abort()
        {
            var reset = new ConnectionResetException("the other end of the in-memory pair aborted");
            output.Complete(reset);
            input.Complete(reset);
        }

        public override void Dispose() => Shutdown();
    }
}

/// <summary>
/// One direction of an in-memory pair: a bounded byte queue with one reader and one writer. A waiting reader is
/// resumed directly on the writer's thread (no thread pool, no synchronization context), which is what keeps
/// virtual-time tests deterministic even under test frameworks that install a synchronization context.
/// </summary>
internal sealed class ByteChannel : IValueTaskSource<int>, IValueTaskSource
{
    private readonly object _lock = new();
    private readonly int _window;
    private byte[] _buffer = new byte[4096];
    private int _start, _end;
    private ManualResetValueTaskSourceCore<int> _read;
    private ManualResetValueTaskSourceCore<bool> _write;
    private Memory<byte> _readInto;
    private bool _readerWaiting, _writerWaiting, _completed;
    private Exception? _error;

    public ByteChannel(int window) => _window = window;

    private int Buffered => _end - _start;

    public ValueTask<int> ReadAsync(Memory<byte> destination)
    {
        bool releaseWriter;
        int n;
        lock (_lock)
        {
            if (Buffered == 0)
            {
                if (_completed)
                    return _error is null ? new ValueTask<int>(0) : ValueTask.FromException<int>(_error);
                _read.Reset();
                _readInto = destination;
                _readerWaiting = true;
                return new ValueTask<int>(this, _read.Version);
            }
            n = Take(destination.Span);
            releaseWriter = _writerWaiting && Buffered <= _window / 2;
            if (releaseWriter) _writerWaiting = false;
        }
        if (releaseWriter) _write.SetResult(true);
        return new ValueTask<int>(n);
    }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data)
    {
        int delivered = 0;
        bool wakeReader, wait;
        lock (_lock)
        {
            if (_completed) return ValueTask.FromException(_error ?? new ConnectionResetException("the in-memory channel is closed"));
            var span = data.Span;
            wakeReader = _readerWaiting && span.Length > 0;
            if (wakeReader)
            {
                delivered = Math.Min(span.Length, _readInto.Length);
                span[..delivered].CopyTo(_readInto.Span);
                span = span[delivered..];
                _readerWaiting = false;
                _readInto = default;
            }
            Append(span);
            wait = Buffered > _window;
            if (wait)
            {
                _write.Reset();
                _writerWaiting = true;
            }
        }
        if (wakeReader) _read.SetResult(delivered);
        return wait ? new ValueTask(this, _write.Version) : default;
    }

    /// <summary>Ends the channel: the reader sees end of stream (or <paramref name="error"/>) after the buffered bytes.</summary>
    public void Complete(Exception? error)
    {
        bool wakeReader, wakeWriter;
        lock (_lock)
        {
            if (_completed) return;
            _completed = true;
            _error = error;
            wakeReader = _readerWaiting;
            wakeWriter = _writerWaiting;
            _readerWaiting = _writerWaiting = false;
        }
        if (wakeReader)
        {
            if (error is null) _read.SetResult(0);
            else _read.SetException(error);
        }
        if (wakeWriter) _write.SetException(error ?? new ConnectionResetException("the in-memory channel is closed"));
    }

    private int Take(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Buffered);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        if (_start == _end) _start = _end = 0;
        return n;
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        if (_buffer.Length - _end < data.Length)
        {
            int needed = Buffered + data.Length;
            var target = needed <= _buffer.Length ? _buffer : new byte[Math.Max(needed, _buffer.Length * 2)];
            _buffer.AsSpan(_start, Buffered).CopyTo(target);
            _end = Buffered;
            _start = 0;
            _buffer = target;
        }
        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.GetResult(short token) => _write.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _write.GetStatus(token);
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _write.OnCompleted(continuation, state, token, flags);
}

/// <summary>Two connected in-memory sessions.</summary>
public sealed class InMemoryPair
{
    private int _started;

    internal InMemoryPair(Session a, Session b)
    {
        A = a;
        B = b;
    }

    /// <summary>One end.</summary>
    public Session A { get; }

    /// <summary>The other end.</summary>
    public Session B { get; }

    /// <summary>Starts both sessions reading. Subscribe to their streams first to see every frame.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        A.Start();
        B.Start();
    }
}
