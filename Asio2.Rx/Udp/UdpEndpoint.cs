using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Asio2.Rx;

/// <summary>
/// A connectionless UDP endpoint: sends to any address, receives from anyone (<see cref="Received"/>), joins and
/// leaves multicast groups. No sessions: use <see cref="UdpServer"/> for a session per peer.
/// </summary>
/// <example>
/// <code>
/// using var endpoint = new UdpEndpoint();
/// endpoint.Received.Subscribe(d => endpoint.SendTo(d.RemoteEndPoint, d.Data.Span)); // echo
/// IPEndPoint bound = endpoint.Bind("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// <para><see cref="Received"/> is hot: a subscriber sees datagrams that arrive after it subscribed. It is delivered on
/// <see cref="Scheduler"/> (one of the pool's, picked at construction), one at a time; each datagram has its own
/// array. It completes on <see cref="Dispose"/> and errors only when the socket fails. A subscriber that throws is
/// logged and counted; the endpoint goes on.</para>
/// <para>Datagrams larger than <see cref="UdpEndpointOptions.MaxDatagramSize"/>, or arriving while more than
/// <see cref="UdpEndpointOptions.MaxPendingReceiveBytes"/> wait for subscribers, are dropped and counted in
/// <see cref="DroppedDatagrams"/>. ICMP errors never end the receive loop.</para>
/// <para>Thread-safety: every member may be called from any thread.</para>
/// </remarks>
public sealed class UdpEndpoint : IDisposable
{
    private readonly UdpEndpointOptions _options;
    private readonly ILogger _logger;
    private readonly Subject<Datagram> _received = new();
    private readonly DropCounter _drops = new("udp", Asio2Metrics.Default);
    private DatagramChannel? _channel;
    private long _pendingBytes;
    private long _datagramsReceived;
    private int _disposed;
    // Receive loop only: the sender of the previous datagram, so a chatty peer costs one IPEndPoint, not one per datagram.
    private SocketAddress? _lastSource;
    private IPEndPoint? _lastSourceEndPoint;
    // Any thread: the last target, serialized.
    private Tuple<IPEndPoint, SocketAddress>? _lastTarget;

    /// <summary>Creates an endpoint; nothing is bound until <see cref="Bind(IPEndPoint)"/>.</summary>
    public UdpEndpoint(UdpEndpointOptions? options = null)
    {
        _options = options ?? new UdpEndpointOptions();
        _logger = _options.Logger ?? NullLogger.Instance;
        Scheduler = (_options.Schedulers ?? SchedulerPool.Shared).Next();
        Received = _received.AsObservable();
    }

    /// <summary>The scheduler <see cref="Received"/> is delivered on.</summary>
    public IScheduler Scheduler { get; }

    /// <summary>Received datagrams, hot, on <see cref="Scheduler"/>. Completes on <see cref="Dispose"/>.</summary>
    public IObservable<Datagram> Received { get; }

    /// <summary>The bound address, once bound.</summary>
    public IPEndPoint? LocalEndPoint => _channel?.LocalEndPoint;

    /// <summary>Datagrams delivered to <see cref="Received"/>.</summary>
    public long DatagramsReceived => Volatile.Read(ref _datagramsReceived);

    /// <summary>Datagrams dropped (too large, or subscribers lagging).</summary>
    public long DroppedDatagrams => _drops.Count;

    /// <summary>Binds <paramref name="host"/> (an address or a name; "" or "*" for every interface) and
    /// <paramref name="port"/> (0 picks a free port), and starts receiving. Returns the bound endpoint.</summary>
    public IPEndPoint Bind(string host, int port) => Bind(new IPEndPoint(SessionServer.ResolveListenAddress(host), port));

    /// <summary>Binds every interface (IPv6 and IPv4) on <paramref name="port"/>.</summary>
    public IPEndPoint Bind(int port) => Bind(new IPEndPoint(IPAddress.IPv6Any, port));

    /// <summary>Binds <paramref name="endPoint"/> and starts receiving. Returns the bound endpoint.</summary>
    /// <exception cref="InvalidOperationException">Already bound.</exception>
    public IPEndPoint Bind(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ThrowIfBound();
        var settings = new DatagramSocketSettings(_options.SocketReceiveBufferSize, _options.SocketSendBufferSize, _options.DualMode);
        return Bind(SocketDatagramChannel.Bind(endPoint, "udp", settings, _logger, Configure));
    }

    /// <summary>Starts on an in-process channel (tests).</summary>
    internal IPEndPoint Bind(DatagramChannel channel)
    {
        if (Interlocked.CompareExchange(ref _channel, channel, null) is not null)
        {
            channel.Dispose();
            ThrowIfBound();
        }
        channel.Completion.ContinueWith(static (t, s) => ((UdpEndpoint)s!).OnChannelEnded(t.Exception?.GetBaseException()),
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        channel.Start(OnDatagram);
        return channel.LocalEndPoint;
    }

    private void ThrowIfBound()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_channel is not null) throw new InvalidOperationException("The endpoint is already bound.");
    }

    private void Configure(Socket socket)
    {
        if (_options.ReuseAddress) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (_options.EnableBroadcast) socket.EnableBroadcast = true;
        if (socket.AddressFamily == AddressFamily.InterNetwork)
        {
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, _options.MulticastLoopback);
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, _options.MulticastTimeToLive);
            if (_options.MulticastInterface is { } nic)
            {
                // IP_MULTICAST_IF takes the interface's IPv4 address, in network order, as an int.
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface,
                    BinaryPrimitives.ReadInt32LittleEndian(nic.GetAddressBytes()));
            }
        }
        else
        {
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, _options.MulticastLoopback);
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, _options.MulticastTimeToLive);
        }
    }

    /// <summary>Sends <paramref name="data"/> as one datagram to <paramref name="target"/>, now. Best effort: a datagram
    /// the network refuses is lost (and counted), as UDP does.</summary>
    /// <exception cref="SendRejectedException">The datagram is larger than <see cref="UdpEndpointOptions.MaxDatagramSize"/>
    /// (<see cref="SendRejection.TooLarge"/>).</exception>
    /// <exception cref="InvalidOperationException">The endpoint is not bound.</exception>
    public void SendTo(IPEndPoint target, ReadOnlySpan<byte> data)
    {
        CheckSize(data.Length);
        Channel().Send(data, Serialize(target));
    }

    /// <summary>Sends the UTF-8 bytes of <paramref name="text"/> as one datagram to <paramref name="target"/>.</summary>
    public void SendTo(IPEndPoint target, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        SendTo(target, Encoding.UTF8.GetBytes(text));
    }

    /// <summary>Sends <paramref name="data"/> as one datagram; <paramref name="data"/> must stay unchanged until the task completes.</summary>
    public ValueTask SendToAsync(IPEndPoint target, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        CheckSize(data.Length);
        return Channel().SendAsync(data, Serialize(target), cancellationToken);
    }

    private void CheckSize(int length)
    {
        if (length > _options.MaxDatagramSize)
            throw new SendRejectedException(SendRejection.TooLarge, $"a datagram of {length} bytes exceeds MaxDatagramSize {_options.MaxDatagramSize}");
    }

    private DatagramChannel Channel()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _channel ?? throw new InvalidOperationException("Bind the endpoint before sending (Bind(0) picks any free port).");
    }

    private SocketAddress Serialize(IPEndPoint target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (Volatile.Read(ref _lastTarget) is { } last && ReferenceEquals(last.Item1, target)) return last.Item2;
        var ep = target;
        // A dual-mode IPv6 socket reaches IPv4 peers through their IPv4-mapped IPv6 address.
        if (_channel?.LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6 && target.AddressFamily == AddressFamily.InterNetwork)
            ep = new IPEndPoint(target.Address.MapToIPv6(), target.Port);
        var address = ep.Serialize();
        Volatile.Write(ref _lastTarget, Tuple.Create(target, address));
        return address;
    }

    /// <summary>Joins the multicast <paramref name="group"/> on the interface with <paramref name="localAddress"/>
    /// (IPv4; null lets the system choose) or on interface <paramref name="interfaceIndex"/> (IPv6).</summary>
    /// <exception cref="SocketException">The system refused (no such interface, no multicast route).</exception>
    public void JoinMulticastGroup(IPAddress group, IPAddress? localAddress = null, int interfaceIndex = 0) =>
        Membership(group, localAddress, interfaceIndex, join: true);

    /// <summary>Leaves a group joined with <see cref="JoinMulticastGroup"/> (same arguments).</summary>
    public void LeaveMulticastGroup(IPAddress group, IPAddress? localAddress = null, int interfaceIndex = 0) =>
        Membership(group, localAddress, interfaceIndex, join: false);

    private void Membership(IPAddress group, IPAddress? localAddress, int interfaceIndex, bool join)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (Channel() is not SocketDatagramChannel { Socket: var socket })
            throw new NotSupportedException("Multicast needs a socket-backed endpoint.");
        if (group.AddressFamily == AddressFamily.InterNetwork)
        {
            var option = localAddress is null ? new MulticastOption(group) : new MulticastOption(group, localAddress);
            socket.SetSocketOption(SocketOptionLevel.IP, join ? SocketOptionName.AddMembership : SocketOptionName.DropMembership, option);
        }
        else
        {
            socket.SetSocketOption(SocketOptionLevel.IPv6, join ? SocketOptionName.AddMembership : SocketOptionName.DropMembership,
                new IPv6MulticastOption(group, interfaceIndex));
        }
    }

    private void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
    {
        if (datagram.Length > _options.MaxDatagramSize)
        {
            _drops.Drop("datagram_too_large");
            return;
        }
        if (Volatile.Read(ref _pendingBytes) + datagram.Length > _options.MaxPendingReceiveBytes)
        {
            _drops.Drop("receive_backlog");
            return;
        }
        if (_lastSource is null || !_lastSource.Equals(source))
        {
            _lastSource = DatagramChannel.Copy(source);
            _lastSourceEndPoint = DatagramChannel.ToEndPoint(_lastSource);
        }
        Interlocked.Add(ref _pendingBytes, datagram.Length);
        Asio2Metrics.Default.BytesReceived("udp", datagram.Length);
        Scheduler.Schedule((this, new Datagram(_lastSourceEndPoint!, datagram.ToArray())), static (_, st) =>
        {
            st.Item1.Deliver(st.Item2);
            return Disposable.Empty;
        });
    }

    private void Deliver(Datagram datagram)
    {
        try
        {
            Interlocked.Increment(ref _datagramsReceived);
            _received.OnNext(datagram);
        }
        catch (Exception ex)
        {
            Asio2Metrics.Default.UserCodeFault("udp");
            Asio2Log.ReceivedSubscriberFailed(_logger, ex, LocalEndPoint);
        }
        finally
        {
            Interlocked.Add(ref _pendingBytes, -datagram.Length);
        }
    }

    private void OnChannelEnded(Exception? error) =>
        Scheduler.Schedule((this, error), static (_, st) =>
        {
            var (self, error) = st;
            try
            {
                if (error is null) self._received.OnCompleted();
                else self._received.OnError(error);
            }
            catch (Exception ex)
            {
                Asio2Log.ReceivedCompletionFailed(self._logger, ex);
            }
            return Disposable.Empty;
        });

    /// <summary>Closes the socket; <see cref="Received"/> completes after the datagrams already received.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_channel is { } channel) channel.Dispose();
        else OnChannelEnded(null);
    }
}
