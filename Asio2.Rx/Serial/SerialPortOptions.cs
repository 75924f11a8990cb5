using System.IO.Ports;

namespace Asio2.Rx;

/// <summary>Settings of a <see cref="SerialPortClient"/>: the port, its line settings, and how it reopens.</summary>
/// <remarks>
/// Line settings are passed to <see cref="SerialPort"/> when the port is opened (and on every reopen). Values are read
/// once, when the client is created. Pseudo-terminals (socat, Bluetooth and USB gadgets) ignore the baud rate and
/// the line settings, and have no modem lines: leave <see cref="DtrEnable"/> and <see cref="RtsEnable"/> off for them.
/// </remarks>
public class SerialPortOptions : SessionOptions
{
    private string _portName = "";
    private int _baudRate = 9600;
    private int _dataBits = 8;
    private Parity _parity = Parity.None;
    private StopBits _stopBits = StopBits.One;
    private Handshake _handshake = Handshake.None;
    private TimeSpan _openTimeout = TimeSpan.FromSeconds(5);
    private ReconnectOptions _reopen = new() { MaxDelay = TimeSpan.FromSeconds(5) };

    /// <summary>The device: <c>"COM3"</c> on Windows, <c>"/dev/ttyUSB0"</c> (or a symbolic link to a tty) on Linux. Required.</summary>
    public string PortName
    {
        get => _portName;
        set => _portName = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Bits per second. Defaults to 9600, asio2's and most devices' default.</summary>
    public int BaudRate
    {
        get => _baudRate;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _baudRate = value; }
    }

    /// <summary>Data bits per character, 5 to 8. Defaults to 8 (8N1, the common setting).</summary>
    public int DataBits
    {
        get => _dataBits;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 5);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 8);
            _dataBits = value;
        }
    }

    /// <summary>Parity bit. Defaults to <see cref="Parity.None"/>.</summary>
    public Parity Parity
    {
        get => _parity;
        set => _parity = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "not a Parity value");
    }

    /// <summary>Stop bits: <see cref="StopBits.One"/>, <see cref="StopBits.OnePointFive"/> or <see cref="StopBits.Two"/>
    /// (<see cref="StopBits.None"/> is not a line setting and is refused). Defaults to <see cref="StopBits.One"/>.</summary>
    public StopBits StopBits
    {
        get => _stopBits;
        set => _stopBits = value is StopBits.One or StopBits.OnePointFive or StopBits.Two
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "stop bits must be One, OnePointFive or Two");
    }

    /// <summary>Flow control: none, XON/XOFF, RTS/CTS, or both. Defaults to <see cref="Handshake.None"/>, as asio2's
    /// <c>flow_control::none</c>: most devices need none, and a wrong one silently stalls the line.</summary>
    public Handshake Handshake
    {
        get => _handshake;
        set => _handshake = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "not a Handshake value");
    }

    /// <summary>Raise DTR once open (some boards, e.g. Arduinos, reset or start talking on it). Defaults to false.
    /// A pseudo-terminal has no DTR line: opening fails with it on.</summary>
    public bool DtrEnable { get; set; }

    /// <summary>Raise RTS once open. Ignored when <see cref="Handshake"/> uses RTS/CTS, which drives the line itself.
    /// Defaults to false. A pseudo-terminal has no RTS line: opening fails with it on.</summary>
    public bool RtsEnable { get; set; }

    /// <summary>An open that has not finished after this long fails with <see cref="CloseKind.ConnectTimeout"/> (and is
    /// retried per <see cref="Reopen"/>). Defaults to 5 s, as a TCP connect.</summary>
    public TimeSpan OpenTimeout
    {
        get => _openTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _openTimeout = value; }
    }

    /// <summary>How the port is opened again after the device disappears (<see cref="CloseKind.DeviceLost"/>) or an open
    /// fails (<see cref="CloseKind.ConnectFailed"/>: the device is not there yet). Defaults to enabled, 1 s doubling up
    /// to 5 s: a replugged USB adapter is back within seconds, so waiting longer only adds delay.</summary>
    public ReconnectOptions Reopen
    {
        get => _reopen;
        set => _reopen = value ?? throw new ArgumentNullException(nameof(value));
    }
}
