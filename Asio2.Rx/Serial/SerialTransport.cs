using System.IO.Ports;
using System.Net;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// A transport over an open <see cref="SerialPort"/>'s <see cref="SerialPort.BaseStream"/>. Any error the port raises
/// while nobody is closing it means the device went away: <see cref="CloseKind.DeviceLost"/>.
/// </summary>
/// <remarks>
/// Platform notes (System.IO.Ports on Linux): reads and writes are queued to a polling thread per port. When the
/// device disappears (a USB adapter unplugged, the far end of a pseudo-terminal closed) that thread fails the pending
/// requests with <see cref="ObjectDisposedException"/> ("The port is closed.") or an <see cref="IOException"/> (EIO),
/// and stops; requests queued after that never complete, and <see cref="SerialPort.Close"/> then spins forever in
/// <c>Flush</c> waiting for them. So the port is closed by disposing its stream first (which fails what is queued and
/// skips the flush), and calls pass no cancellation token: each cancellable call leaves a registration on the token
/// that is never removed, and disposing the stream ends pending calls anyway.
/// </remarks>
internal sealed class SerialTransport : Transport
{
    private readonly SerialPort? _port;
    private readonly Stream _stream;
    private readonly SerialEndPoint _endPoint;
    private int _closing;

    public SerialTransport(SerialPort port)
        : this(port.BaseStream, port.PortName, port)
    {
    }

    /// <summary>Over any stream standing for a device (tests use a fake one); <paramref name="port"/> when there is one.</summary>
    internal SerialTransport(Stream stream, string portName, SerialPort? port = null)
    {
        _port = port;
        _stream = stream;
        _endPoint = new SerialEndPoint(portName);
    }

    /// <summary>The open port (for tests and diagnostics); null over a plain stream.</summary>
    public SerialPort? Port => _port;

    public override string Name => "serial";

    /// <summary>The port itself: a serial line has no addresses, so both ends are named by the port.</summary>
    public override EndPoint? LocalEndPoint => _endPoint;

    public override EndPoint? RemoteEndPoint => _endPoint;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = _stream.ReadAsync(buffer, CancellationToken.None);
        return read.IsCompletedSuccessfully && read.Result > 0 ? read : CheckedAsync(read);

        // Pooling builder: its completion resumes the read loop inline, like the rest of the session core.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        static async ValueTask<int> CheckedAsync(ValueTask<int> read)
        {
            int n = await read.ConfigureAwait(false);
            // A serial port has no end of stream; a read of nothing means the device is gone.
            return n > 0 ? n : throw new IOException("the serial port reported end of stream");
        }
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _stream.WriteAsync(data, CancellationToken.None);

    /// <summary>Graceful: what was written stays in the driver's queue and goes out as the port closes.</summary>
    public override void Shutdown() => Close(discardOutput: false);

    /// <summary>Abortive: drop what the driver still holds, so closing does not wait for a slow line to drain.</summary>
    public override void Abort() => Close(discardOutput: true);

    public override void Dispose() => Close(discardOutput: false);

    public override CloseReason Classify(Exception ex)
    {
        if (Volatile.Read(ref _closing) != 0) return ErrorClassifier.Classify(ex);
        return ex is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidOperationException
            ? new CloseReason(CloseKind.DeviceLost, ex, $"the serial port {_endPoint.PortName} is gone: {ex.Message}")
            : ErrorClassifier.Classify(ex);
    }

    private void Close(bool discardOutput)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0) return;
        if (discardOutput)
        {
            try { _port?.DiscardOutBuffer(); }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException) { } // the device may be gone
        }
        try { _stream.Dispose(); }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { }
        try { _port?.Dispose(); }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { }
    }
}

/// <summary>Names a serial port where a session shows an endpoint.</summary>
internal sealed class SerialEndPoint(string portName) : EndPoint
{
    public string PortName { get; } = portName;

    public override string ToString() => PortName;
}
