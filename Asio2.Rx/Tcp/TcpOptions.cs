using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>TCP keep-alive probing: detects peers that vanished without a FIN or RST.</summary>
public sealed class KeepAliveOptions
{
    /// <summary>Idle time before the first probe. Defaults to 60 s.</summary>
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time between unanswered probes. Defaults to 5 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Unanswered probes before the connection is declared dead. Defaults to 3.</summary>
    public int Count { get; set; } = 3;
}

/// <summary>Socket settings shared by <see cref="TcpServerOptions"/> and <see cref="TcpClientOptions"/>.</summary>
public abstract class TcpSocketOptions : SessionOptions
{
    /// <summary>Disable Nagle's algorithm. Defaults to true (as asio2): the send queue already coalesces small
    /// writes, so Nagle would only add latency.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>Keep-alive probing, or null to leave the operating system's default (off). Defaults to probing after
    /// 60 s idle, every 5 s, 3 times (as asio2 enables it by default).</summary>
    public KeepAliveOptions? KeepAlive { get; set; } = new();

    /// <summary>The socket's kernel send buffer (SO_SNDBUF), or null for the operating system's default. Defaults to null.</summary>
    public int? SocketSendBufferSize { get; set; }

    /// <summary>The socket's kernel receive buffer (SO_RCVBUF), or null for the operating system's default. Defaults to null.</summary>
    public int? SocketReceiveBufferSize { get; set; }

    internal void Apply(Socket socket)
    {
        socket.NoDelay = NoDelay;
        if (KeepAlive is { } k)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Math.Max(1, (int)k.Idle.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, Math.Max(1, (int)k.Interval.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Math.Max(1, k.Count));
        }
        if (SocketSendBufferSize is { } s) socket.SendBufferSize = s;
        if (SocketReceiveBufferSize is { } r) socket.ReceiveBufferSize = r;
    }
}

/// <summary>Settings of a <see cref="TcpServer"/>.</summary>
public class TcpServerOptions : TcpSocketOptions
{
    private int _backlog = 512;
    private int _maxSessions = 10_000;

    /// <summary>Pending-connection queue length passed to <c>listen</c>. Defaults to 512.</summary>
    public int Backlog
    {
        get => _backlog;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _backlog = value; }
    }

    /// <summary>Connections beyond this many are closed as soon as they are accepted (and counted as drops).
    /// Defaults to 10 000, so a connection flood cannot exhaust the process's descriptors or memory; raise it (and the
    /// process's descriptor limit) for servers meant to hold more.</summary>
    /// <remarks>TCP has no silence timeout by default: a TCP peer that leaves says so (FIN or RST, or keep-alive finds
    /// it gone), an idle connection is legitimate for many protocols, and this bound caps what idle connections cost.
    /// Set <see cref="SessionOptions.SilenceTimeout"/> for protocols where silence means a dead or hostile peer.</remarks>
    public int MaxSessions
    {
        get => _maxSessions;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxSessions = value; }
    }

    /// <summary>When listening on an IPv6 address, accept IPv4 clients too. Defaults to true.</summary>
    public bool DualMode { get; set; } = true;

    /// <summary>Run every session over TLS with these settings (transport name "tls"); frames start after the handshake.
    /// Defaults to null (plain TCP).</summary>
    public TlsServerOptions? Tls { get; set; }
}

/// <summary>How a client reconnects after its connection ends or an attempt fails: exponential back-off.</summary>
public sealed class ReconnectOptions
{
    /// <summary>Reconnect at all. Defaults to true, as asio2's clients do.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Wait before the first retry. Defaults to 1 s (asio2's reconnect delay).</summary>
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Each further failed attempt multiplies the wait by this. Defaults to 2.</summary>
    public double Multiplier { get; set; } = 2.0;

    /// <summary>The longest wait between attempts. Defaults to 30 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Give up after this many failed attempts in a row, or null to try forever. Defaults to null.</summary>
    public int? MaxAttempts { get; set; }

    /// <summary>The wait before retry number <paramref name="retry"/> (1 = first retry).</summary>
    public TimeSpan DelayBefore(int retry)
    {
        double ticks = InitialDelay.Ticks * Math.Pow(Multiplier, Math.Max(0, retry - 1));
        return ticks >= MaxDelay.Ticks ? MaxDelay : TimeSpan.FromTicks((long)ticks);
    }
}

/// <summary>Settings of a <see cref="TcpClient"/>.</summary>
public class TcpClientOptions : TcpSocketOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>An attempt that has not connected after this long fails with <see cref="CloseKind.ConnectTimeout"/>.
    /// Defaults to 5 s (asio2's default).</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _connectTimeout = value; }
    }

    /// <summary>Reconnection policy. Defaults to enabled, 1 s doubling up to 30 s.</summary>
    public ReconnectOptions Reconnect { get; set; } = new();

    /// <summary>Run every connection over TLS with these settings (transport name "tls"); frames start after the
    /// handshake. Defaults to null (plain TCP).</summary>
    public TlsClientOptions? Tls { get; set; }
}
