namespace Asio2.Rx;

/// <summary>
/// Neither a raw ICMP socket nor a datagram ICMP socket could be opened, so this process cannot ping.
/// Delivered through <c>OnError</c> when a ping is subscribed.
/// </summary>
/// <remarks>
/// Raw ICMP sockets need root or <c>CAP_NET_RAW</c> on Linux and an administrator on Windows. Datagram ("ping")
/// sockets need no privilege on macOS, and on Linux only when the process's group is inside
/// <c>net.ipv4.ping_group_range</c> (many distributions set <c>0 2147483647</c>; <c>1 0</c> allows nobody).
/// <see cref="Exception.InnerException"/> is an <see cref="AggregateException"/> with both socket errors.
/// </remarks>
public sealed class IcmpUnavailableException : PlatformNotSupportedException
{
    internal IcmpUnavailableException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}
