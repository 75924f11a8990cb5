using System.IO.Ports;

namespace Asio2.Rx;

/// <summary>
/// A serial port as a session (asio2's <c>serial_port</c>): received bytes cut into <see cref="ReconnectingClient.Frames"/>
/// by any stream framing, a thread-safe <c>Send</c>, and reopening with back-off when the device disappears and returns.
/// </summary>
/// <example>
/// <code>
/// await using var port = new SerialPortClient(new SerialPortOptions
/// {
///     PortName = "/dev/ttyUSB0", BaudRate = 115200, Framing = Framing.Delimiter("\r\n"),
/// });
/// port.Frames.Select(f => f.Text).Subscribe(Console.WriteLine);
/// port.Disconnects.Subscribe(r => Console.WriteLine($"port closed: {r}"));   // DeviceLost when unplugged
/// await port.Open();                                                         // first open; reopens by itself
/// await port.Send("AT\r\n");
/// </code>
/// </example>
/// <remarks>
/// <para>Each open of the port is one <see cref="Session"/> (transport name "serial"), announced on
/// <see cref="ReconnectingClient.Connections"/>; <see cref="ReconnectingClient.Frames"/> carries the frames of every
/// one of them. When the device disappears the session closes with <see cref="CloseKind.DeviceLost"/> (also on
/// <see cref="ReconnectingClient.Disconnects"/>), and the client opens the port again per
/// <see cref="SerialPortOptions.Reopen"/>; while the device is absent each attempt fails with
/// <see cref="CloseKind.ConnectFailed"/> and the wait between attempts grows. Closing the client
/// (<c>DisconnectAsync</c>/<c>Dispose</c>) stops reopening.</para>
/// <para>Rate limits, timers and every other session feature apply as on any session.</para>
/// </remarks>
public sealed class SerialPortClient : ReconnectingClient
{
    private readonly string _portName;
    private readonly int _baudRate;
    private readonly int _dataBits;
    private readonly Parity _parity;
    private readonly StopBits _stopBits;
    private readonly Handshake _handshake;
    private readonly bool _dtrEnable;
    private readonly bool _rtsEnable;
    private int _opened;

    /// <summary>Creates a client for <see cref="SerialPortOptions.PortName"/>; nothing is opened until <see cref="Open"/>.</summary>
    /// <exception cref="ArgumentException">The options name no port.</exception>
    public SerialPortClient(SerialPortOptions options)
        : base(Checked(options).Resolve("serial"), options.OpenTimeout, options.Reopen)
    {
        _portName = options.PortName;
        _baudRate = options.BaudRate;
        _dataBits = options.DataBits;
        _parity = options.Parity;
        _stopBits = options.StopBits;
        _handshake = options.Handshake;
        _dtrEnable = options.DtrEnable;
        _rtsEnable = options.RtsEnable;
        Opener = OpenPortAsync;
    }

    /// <summary>The device this client opens.</summary>
    public string PortName => _portName;

    /// <summary>Opens the device in a transport. Replaced in tests to run opens in virtual time.</summary>
    internal Func<CancellationToken, ValueTask<Transport>> Opener { get; set; }

    /// <summary>
    /// Opens the port and keeps it open per <see cref="SerialPortOptions.Reopen"/>. Returns the first open session
    /// (then completes); it errors with <see cref="ConnectException"/> if reopening is off (or gives up) before the port
    /// ever opened. Opening starts at once, whether or not the result is observed; apply <c>Timeout</c> to bound the wait.
    /// </summary>
    /// <exception cref="InvalidOperationException">The client was already opened.</exception>
    public IObservable<Session> Open()
    {
        if (Interlocked.Exchange(ref _opened, 1) != 0)
            throw new InvalidOperationException("Open was already called on this client; it reopens by itself.");
        return StartConnecting();
    }

    private protected override string TargetName => _portName;

    private protected override async ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken)
    {
        var transport = await Opener(cancellationToken).ConfigureAwait(false);
        return new StreamSession(transport, Settings, Scheduler);
    }

    // SerialPort.Open blocks (termios calls, and on some drivers the open itself): keep it off the event loop.
    private async ValueTask<Transport> OpenPortAsync(CancellationToken cancellationToken) =>
        await Task.Run(OpenPort, cancellationToken).ConfigureAwait(false);

    private Transport OpenPort()
    {
        var port = new SerialPort(_portName, _baudRate, _parity, _dataBits, _stopBits)
        {
            Handshake = _handshake,
            ReadTimeout = SerialPort.InfiniteTimeout,
            WriteTimeout = SerialPort.InfiniteTimeout,
        };
        try
        {
            port.Open();
            if (_dtrEnable) port.DtrEnable = true;
            if (_rtsEnable && _handshake is not (Handshake.RequestToSend or Handshake.RequestToSendXOnXOff)) port.RtsEnable = true;
            return new SerialTransport(port);
        }
        catch
        {
            port.Dispose();
            throw;
        }
    }

    private static SerialPortOptions Checked(SerialPortOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.PortName))
            throw new ArgumentException("SerialPortOptions.PortName names no port.", nameof(options));
        return options;
    }
}
