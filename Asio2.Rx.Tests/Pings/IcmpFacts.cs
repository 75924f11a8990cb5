using System.Net;
using System.Net.Sockets;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

/// <summary>
/// A test that pings for real. Runs as root (CI does), and wherever this process may open an ICMP socket;
/// skipped with the reason otherwise, so a developer without privileges sees why.
/// </summary>
public sealed class IcmpFactAttribute : FactAttribute
{
    public IcmpFactAttribute()
    {
        // Root never skips: a broken socket path must fail on CI, not hide behind a skip.
        if (Environment.IsPrivilegedProcess) return;
        try
        {
            SocketIcmpEndpoint.Open(IPAddress.Loopback, ttl: null).Dispose();
        }
        catch (IcmpUnavailableException e)
        {
            Skip = "Needs root, CAP_NET_RAW or a ping_group_range that includes this user (CI runs as root): " + e.Message;
        }
    }
}

/// <summary>A test of what only root may do: open raw sockets. CI runs as root.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess) Skip = "Needs root (CI runs as root).";
    }
}

/// <summary>
/// A test of the unprivileged datagram ICMP socket path. Linux allows those sockets only to groups inside
/// <c>net.ipv4.ping_group_range</c>, and the CI host allows nobody (<c>1 0</c>), root included. To run it:
/// <c>unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.ping_group_range="0 2147483647"; dotnet test ...'</c>.
/// </summary>
public sealed class DatagramIcmpFactAttribute : FactAttribute
{
    public DatagramIcmpFactAttribute()
    {
        try
        {
            new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp).Dispose();
        }
        catch (SocketException e)
        {
            Skip = $"Datagram ICMP sockets are refused here ({e.SocketErrorCode}; Linux: sysctl net.ipv4.ping_group_range).";
        }
    }
}
