using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

/// <summary>
/// A connected stream socket as the TCP and TLS transports use it. Sends go through .NET's socket engine (they nearly
/// always complete at once). Receives go through the session's <see cref="SocketLoop"/> once <see cref="Attach"/>ed to
/// one: a non-blocking read on the loop thread, and when nothing is there, one readiness report from the loop's epoll,
/// after which the read is made and completed on the loop thread, where the session goes on inline. Under any other
/// scheduler (or after <see cref="Detach"/>) receives are .NET's own.
/// </summary>
/// <remarks>One receive at a time, and one send at a time, as every transport promises. A pending receive completes
/// with <see cref="ObjectDisposedException"/> when the channel is closed; its cancellation token is not watched (the
/// session closes the transport to end a receive).</remarks>
internal sealed class SocketChannel(Socket socket) : IValueTaskSource<int>
{
    private readonly object _gate = new(); // registration against close
    private SocketLoop? _loop;
    private GCHandle _self;
    private int _fd;
    private bool _registered;
    private bool _closed;

    // The receive waiting for readiness; touched on the loop thread (and by the thread that starts it off the loop).
    private ManualResetValueTaskSourceCore<int> _wait;
    private Memory<byte> _buffer;
    private bool _waiting;

    public Socket Socket => socket;

    /// <summary>Receives through <paramref name="scheduler"/> from now on if it is a <see cref="SocketLoop"/>.</summary>
    public void Attach(IScheduler scheduler)
    {
        if (scheduler is not SocketLoop loop || _loop is not null) return;
        lock (_gate)
        {
            if (_closed) return;
            socket.Blocking = false;
            _fd = (int)socket.SafeHandle.DangerousGetHandle();
            _self = GCHandle.Alloc(this);
            _loop = loop;
        }
    }

    /// <summary>Back to .NET's receives (a hand-over: the stream's next owner reads it any way it likes). On the loop,
    /// with no receive pending.</summary>
    public void Detach()
    {
        if (_loop is not { } loop) return;
        lock (_gate)
        {
            if (_closed) return;
            if (_registered) loop.Disarm(_fd);
            _registered = false;
            _loop = null;
            socket.Blocking = true;
        }
        // Freed after an epoll report already collected for this channel was dispatched.
        loop.ScheduleCleanup(this, static c => c._self.Free());
    }

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var loop = _loop;
        if (loop is null) return socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        if (loop.IsCurrent)
        {
            if (TryReceiveNow(buffer, out int n, out var error))
                return error is null ? new ValueTask<int>(n) : ValueTask.FromException<int>(error);
            Wait(buffer);
            Arm();
            return new ValueTask<int>(this, _wait.Version);
        }
        // Off the loop (the session's first read starts on the thread that starts it): begin on the loop.
        Wait(buffer);
        try
        {
            loop.Schedule(this, static (_, c) =>
            {
                c.TryNow();
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException ex)
        {
            _waiting = false;
            return ValueTask.FromException<int>(ex);
        }
        return new ValueTask<int>(this, _wait.Version);
    }

    private void Wait(Memory<byte> buffer)
    {
        _wait.Reset();
        _buffer = buffer;
        _waiting = true;
    }

    /// <summary>On the loop: waits for one readiness report.</summary>
    private void Arm()
    {
        bool armed;
        lock (_gate)
        {
            if (_closed)
            {
                Finish(0, new ObjectDisposedException(nameof(Socket)));
                return;
            }
            armed = _loop!.Arm(_fd, GCHandle.ToIntPtr(_self), first: !_registered);
            _registered = true;
        }
        // An errno (ENOSPC: max_user_watches reached), not a SocketError code.
        if (!armed) Finish(0, new IOException($"epoll_ctl: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}"));
    }

    /// <summary>The loop's epoll reported the socket readable (or closed, or failed). On the loop.</summary>
    internal void OnReadable() => Complete();

    /// <summary>On the loop: the waiting receive, begun off the loop, tried now. Unlike a readiness report this says
    /// nothing about the socket, so a zero-byte receive peeks (an idle connection keeps waiting without a buffer).</summary>
    private void TryNow()
    {
        if (!_waiting) return;
        if (Volatile.Read(ref _closed)) Finish(0, new ObjectDisposedException(nameof(Socket)));
        else if (TryReceiveNow(_buffer, out int n, out var error)) Finish(n, error);
        else Arm();
    }

    /// <summary>
    /// A non-blocking receive on the loop thread: false when nothing is there. A zero-byte receive asks whether data
    /// is there: a peek at one byte answers at once when it is, where waiting for the readiness report would cost a
    /// registration and a turn of the loop.
    /// </summary>
    private bool TryReceiveNow(Memory<byte> buffer, out int n, out Exception? error)
    {
        Span<byte> probe = stackalloc byte[1];
        bool peek = buffer.IsEmpty;
        SocketError code;
        try
        {
            n = socket.Receive(peek ? probe : buffer.Span, peek ? SocketFlags.Peek : SocketFlags.None, out code);
        }
        catch (Exception ex)
        {
            (n, error) = (0, ex);
            return true;
        }
        if (code == SocketError.WouldBlock)
        {
            (n, error) = (0, null);
            return false;
        }
        if (peek) n = 0;
        error = code == SocketError.Success ? null : new SocketException((int)code);
        return true;
    }

    /// <summary>On the loop: reads into the waiting receive's buffer and completes it, or arms again if nothing is there.
    /// A zero-byte receive completes when the socket is readable (data, end of stream, or an error the next read reports).</summary>
    private void Complete()
    {
        if (!_waiting) return;
        if (Volatile.Read(ref _closed))
        {
            Finish(0, new ObjectDisposedException(nameof(Socket)));
            return;
        }
        if (_buffer.IsEmpty)
        {
            Finish(0, null);
            return;
        }
        if (TryReceiveNow(_buffer, out int n, out var error)) Finish(n, error);
        else Arm();
    }

    private void Finish(int n, Exception? error)
    {
        if (!_waiting) return;
        _waiting = false;
        _buffer = default;
        if (error is null) _wait.SetResult(n);
        else _wait.SetException(error);
    }

    /// <summary>Leaves the loop's epoll set before the socket closes (its number may be reused at once), and ends a
    /// pending receive on the loop. Any thread.</summary>
    public void Close()
    {
        SocketLoop? loop;
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            loop = _loop;
            if (loop is null) return;
            if (_registered) loop.Disarm(_fd);
        }
        loop.ScheduleCleanup(this, static c =>
        {
            c.Finish(0, new ObjectDisposedException(nameof(Socket)));
            c._self.Free();
        });
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var pending = socket.SendAsync(data, SocketFlags.None, cancellationToken);
        if (pending.IsCompletedSuccessfully && pending.Result == data.Length) return default;
        return SendRestAsync(pending, data, cancellationToken);
    }

    private async ValueTask SendRestAsync(ValueTask<int> pending, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (true)
        {
            int sent = await pending.ConfigureAwait(false);
            data = data[sent..];
            if (data.IsEmpty) return;
            pending = socket.SendAsync(data, SocketFlags.None, cancellationToken);
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}

/// <summary>A <see cref="SocketChannel"/> as the stream under an <c>SslStream</c>; it owns the socket, and wraps socket
/// errors in <see cref="IOException"/> as <see cref="NetworkStream"/> does.</summary>
internal sealed class SocketChannelStream(SocketChannel channel) : Stream
{
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = channel.ReceiveAsync(buffer, cancellationToken);
        return read.IsCompletedSuccessfully ? read : Wrap(read);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var write = channel.SendAsync(buffer, cancellationToken);
        return write.IsCompletedSuccessfully ? write : Wrap(write);
    }

    private static async ValueTask<int> Wrap(ValueTask<int> read)
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    private static async ValueTask Wrap(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Synchronous use only after a hand-over detached the channel (the socket blocks again then).
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try { return channel.Socket.Receive(buffer); }
        catch (SocketException ex) { throw new IOException(ex.Message, ex); }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try { channel.Socket.Send(buffer); }
        catch (SocketException ex) { throw new IOException(ex.Message, ex); }
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            channel.Close();
            channel.Socket.Dispose();
        }
        base.Dispose(disposing);
    }
}
