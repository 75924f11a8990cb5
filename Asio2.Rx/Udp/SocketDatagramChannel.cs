using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Asio2.Rx;

/// <summary>Socket settings of a datagram channel, resolved from the options classes.</summary>
/// <param name="ReceiveBufferSize">SO_RCVBUF, or null for the system default.</param>
/// <param name="SendBufferSize">SO_SNDBUF, or null for the system default.</param>
/// <param name="DualMode">On an IPv6 socket, also send to and receive from IPv4 peers.</param>
internal sealed record DatagramSocketSettings(int? ReceiveBufferSize = null, int? SendBufferSize = null, bool DualMode = true)
{
    public static DatagramSocketSettings Default { get; } = new();
}

/// <summary>
/// A UDP socket as a <see cref="DatagramChannel"/>: bound (a server or a connectionless endpoint, receiving from
/// anyone) or connected (a client, receiving only from its peer). The receive loop uses the allocation-free
/// <see cref="Socket.ReceiveFromAsync(Memory{byte}, SocketFlags, SocketAddress, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// ICMP errors do not end the loop. An ICMP "port unreachable" caused by an earlier send is reported by the next
/// receive: as ECONNREFUSED on a connected Linux socket, as WSAECONNRESET on Windows (where
/// <c>SIO_UDP_CONNRESET</c> is also switched off). It concerns one datagram, not the socket, so it is counted in
/// <see cref="DatagramChannel.IgnoredReceiveErrors"/> and the loop goes on, as asio2 does.
/// </remarks>
internal sealed class SocketDatagramChannel : DatagramChannel
{
    /// <summary>Room for the largest UDP payload (65 527 bytes over IPv6), so no datagram is truncated.</summary>
    private const int ReceiveBufferLength = 64 * 1024;

    // Windows: IOC_IN | IOC_VENDOR | 12. Without it a port-unreachable from one peer fails the next receive.
    private const int SioUdpConnReset = -1744830452;

    private readonly Socket _socket;
    private readonly string _transport;
    private readonly ILogger _logger;
    private readonly Asio2Metrics _metrics;
    private readonly IPEndPoint _local;
    private readonly SocketAddress? _peer;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _started;
    private int _disposed;

    private SocketDatagramChannel(Socket socket, string transport, ILogger? logger, Asio2Metrics? metrics, SocketAddress? peer)
    {
        _socket = socket;
        _transport = transport;
        _logger = logger ?? NullLogger.Instance;
        _metrics = metrics ?? Asio2Metrics.Default;
        _peer = peer;
        _local = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The socket, for options the channel does not cover (multicast membership).</summary>
    public Socket Socket => _socket;

    /// <summary>The connected peer, or null for a bound channel.</summary>
    public IPEndPoint? RemoteEndPoint { get; private init; }

    public override IPEndPoint LocalEndPoint => _local;

    public override Task Completion => _completion.Task;

    /// <summary>A socket bound to <paramref name="local"/> that receives from anyone.</summary>
    public static SocketDatagramChannel Bind(IPEndPoint local, string transport, DatagramSocketSettings settings, ILogger? logger = null,
        Action<Socket>? configure = null, Asio2Metrics? metrics = null)
    {
        var socket = CreateSocket(local.AddressFamily, settings);
        try
        {
            configure?.Invoke(socket);
            socket.Bind(local);
            return new SocketDatagramChannel(socket, transport, logger, metrics, peer: null);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A socket connected to <paramref name="remote"/>: the kernel drops datagrams from anyone else.</summary>
    public static SocketDatagramChannel Connect(IPEndPoint remote, string transport, DatagramSocketSettings settings, ILogger? logger = null, Asio2Metrics? metrics = null)
    {
        var socket = CreateSocket(remote.AddressFamily, settings);
        try
        {
            socket.Connect(remote);
            return new SocketDatagramChannel(socket, transport, logger, metrics, remote.Serialize()) { RemoteEndPoint = remote };
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket CreateSocket(AddressFamily family, DatagramSocketSettings settings)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (family == AddressFamily.InterNetworkV6) socket.DualMode = settings.DualMode;
            if (settings.ReceiveBufferSize is { } r) socket.ReceiveBufferSize = r;
            if (settings.SendBufferSize is { } s) socket.SendBufferSize = s;
            if (OperatingSystem.IsWindows()) socket.IOControl(SioUdpConnReset, [0, 0, 0, 0], null);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override void Start(DatagramHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The channel was already started.");
        _ = ReceiveLoopAsync(handler);
    }

    private async Task ReceiveLoopAsync(DatagramHandler handler)
    {
        // Pinned once for the loop's life instead of once per receive.
        byte[] buffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferLength, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
        var token = _stop.Token;
        try
        {
            while (true)
            {
                int received;
                try
                {
                    received = _peer is null
                        ? await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, token).ConfigureAwait(false)
                        : await _socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                }
                catch (SocketException ex) when (IsAboutOneDatagram(ex.SocketErrorCode) && Volatile.Read(ref _disposed) == 0)
                {
                    CountReceiveError();
                    _metrics.Drop(_transport, "icmp_error");
                    Asio2Log.ReceiveErrorIgnored(_logger, _transport, _local, ex.SocketErrorCode);
                    continue;
                }
                try
                {
                    handler(buffer.AsSpan(0, received), _peer ?? from);
                }
                catch (Exception ex)
                {
                    // A handler bug must not stop every session of a server: log, count, go on.
                    _metrics.Error(_transport, "datagram_handler");
                    Asio2Log.DatagramHandlerFailed(_logger, ex, _transport, _local);
                }
            }
        }
        catch (Exception) when (Volatile.Read(ref _disposed) != 0)
        {
            _completion.TrySetResult();
        }
        catch (Exception ex)
        {
            Asio2Log.SocketFailed(_logger, ex, _transport, _local);
            _metrics.Error(_transport, "socket");
            _completion.TrySetException(ex);
        }
    }

    /// <summary>Errors a receive reports about one earlier datagram rather than about the socket.</summary>
    private static bool IsAboutOneDatagram(SocketError error) => error is
        SocketError.ConnectionReset or        // Windows: ICMP port unreachable for an earlier send
        SocketError.ConnectionRefused or      // Linux, connected socket: the same ICMP
        SocketError.HostUnreachable or
        SocketError.NetworkUnreachable or
        SocketError.NetworkReset or
        SocketError.TimedOut or
        SocketError.MessageSize;              // a datagram larger than the buffer (truncated), dropped

    public override void Send(ReadOnlySpan<byte> datagram, SocketAddress target)
    {
        try
        {
            if (_peer is null) _socket.SendTo(datagram, SocketFlags.None, target);
            else _socket.Send(datagram, SocketFlags.None);
        }
        catch (SocketException ex)
        {
            OnSendError(ex);
        }
        catch (ObjectDisposedException)
        {
            // Closed under a late send: the datagram is simply not sent.
        }
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> datagram, SocketAddress target, CancellationToken cancellationToken)
    {
        ValueTask<int> pending;
        try
        {
            pending = _peer is null
                ? _socket.SendToAsync(datagram, SocketFlags.None, target, cancellationToken)
                : _socket.SendAsync(datagram, SocketFlags.None, cancellationToken);
        }
        catch (SocketException ex)
        {
            OnSendError(ex);
            return default;
        }
        catch (ObjectDisposedException)
        {
            return default;
        }
        if (pending.IsCompletedSuccessfully)
        {
            _ = pending.Result;
            return default;
        }
        return AwaitSend(pending);
    }

    private async ValueTask AwaitSend(ValueTask<int> pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            OnSendError(ex);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void OnSendError(SocketException ex)
    {
        CountSendError();
        _metrics.Drop(_transport, "send_failed");
        Asio2Log.SendFailed(_logger, _transport, _local, ex.SocketErrorCode);
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _socket.Dispose();
        if (Volatile.Read(ref _started) == 0) _completion.TrySetResult();
    }
}
