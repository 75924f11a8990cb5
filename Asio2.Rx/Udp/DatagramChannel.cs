using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>
/// Called by a <see cref="DatagramChannel"/>'s receive loop for every datagram, one at a time. The span and the
/// address are valid only during the call (the loop reuses both): copy what must be kept.
/// </summary>
internal delegate void DatagramHandler(ReadOnlySpan<byte> datagram, SocketAddress source);

/// <summary>
/// Datagram I/O shared by UDP and KCP: a receive loop that hands every datagram and its source address to one
/// handler, and best-effort sends to any address. <see cref="SocketDatagramChannel"/> is a real UDP socket;
/// <see cref="MemoryDatagramNetwork"/> and <see cref="LossyLinkChannel"/> run in process, in virtual time.
/// </summary>
/// <remarks>
/// <para>Addresses are <see cref="SocketAddress"/>es: the socket fills one in place on every receive without
/// allocating, and servers look their sessions up by it (its equality compares the bytes).</para>
/// <para>Thread-safety: <see cref="Send"/> and <see cref="SendAsync"/> may be called from any thread, concurrently.
/// The handler is never called concurrently with itself.</para>
/// <para>Sends are best effort, as UDP is: a datagram the network refuses (unreachable, buffer full, too big for
/// the path) is lost and counted, never an exception, so one bad destination cannot end a server's sessions.</para>
/// </remarks>
internal abstract class DatagramChannel : IDisposable
{
    private long _receiveErrors;
    private long _sendErrors;

    /// <summary>The local address datagrams arrive at.</summary>
    public abstract IPEndPoint LocalEndPoint { get; }

    /// <summary>Completes when the receive loop ends: successfully after <see cref="Dispose"/>, faulted when the
    /// channel itself failed (the socket was lost).</summary>
    public abstract Task Completion { get; }

    /// <summary>Receive errors that were ignored because they concern one earlier datagram, not the socket (ICMP port
    /// unreachable reported as a connection reset or refusal, a truncated datagram).</summary>
    public long IgnoredReceiveErrors => Volatile.Read(ref _receiveErrors);

    /// <summary>Datagrams the network refused to send.</summary>
    public long SendErrors => Volatile.Read(ref _sendErrors);

    /// <summary>Raised on the I/O thread after a receive or send error was counted and ignored, so a test can await
    /// one instead of watching the counters.</summary>
    public event Action? ErrorIgnored;

    /// <summary>Starts the receive loop; call once.</summary>
    public abstract void Start(DatagramHandler handler);

    /// <summary>Sends one datagram now; the span may be reused as soon as this returns.</summary>
    public abstract void Send(ReadOnlySpan<byte> datagram, SocketAddress target);

    /// <summary>Sends one datagram; <paramref name="datagram"/> must stay unchanged until the task completes.</summary>
    public virtual ValueTask SendAsync(ReadOnlyMemory<byte> datagram, SocketAddress target, CancellationToken cancellationToken)
    {
        Send(datagram.Span, target);
        return default;
    }

    /// <summary>Stops the receive loop and releases the socket. Idempotent.</summary>
    public abstract void Dispose();

    private protected void CountReceiveError()
    {
        Interlocked.Increment(ref _receiveErrors);
        ErrorIgnored?.Invoke();
    }

    private protected void CountSendError()
    {
        Interlocked.Increment(ref _sendErrors);
        ErrorIgnored?.Invoke();
    }

    /// <summary>A copy of <paramref name="address"/> that can be kept (the receive loop reuses its own).</summary>
    public static SocketAddress Copy(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }

    /// <summary>The endpoint <paramref name="address"/> holds (allocates; call once per new peer).</summary>
    public static IPEndPoint ToEndPoint(SocketAddress address) =>
        (IPEndPoint)new IPEndPoint(address.Family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0).Create(address);
}

/// <summary>Counts input a datagram transport dropped, for a public counter and the shared meter.</summary>
internal sealed class DropCounter(string transport, Asio2Metrics metrics)
{
    private long _count;

    /// <summary>Datagrams dropped so far.</summary>
    public long Count => Volatile.Read(ref _count);

    /// <summary>Raised after each drop was counted, with its reason, on the thread that dropped: a test awaits a drop
    /// with it instead of watching <see cref="Count"/>.</summary>
    public event Action<string>? Dropped;

    /// <summary>Counts one dropped datagram, tagged with <paramref name="reason"/> on the meter.</summary>
    public void Drop(string reason)
    {
        Interlocked.Increment(ref _count);
        metrics.Drop(transport, reason);
        Dropped?.Invoke(reason);
    }
}
