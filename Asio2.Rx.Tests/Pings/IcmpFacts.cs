using System.Net;
using System.Net.Sockets;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

/// <summary>Why a ping test cannot run here (null when it can), worked out once for the attributes below. Tests of
/// both address families are theories with an <see cref="IPv6InlineDataAttribute"/> row, so IPv4 runs without IPv6.</summary>
internal static class IcmpHost
{
    /// <summary>
    /// Real pings run as root (CI does), and wherever this process may open an ICMP socket; a developer without
    /// privileges sees why they are skipped. Root never skips: a broken socket path must fail on CI, not hide.
    /// </summary>
    public static string? CannotPing { get; } = Environment.IsPrivilegedProcess ? null : ProbeIcmp();

    /// <summary>Only root may open raw sockets. CI runs as root.</summary>
    public static string? NotRoot { get; } = Environment.IsPrivilegedProcess ? null : "Needs root (CI runs as root).";

    /// <summary>
    /// Linux allows unprivileged datagram ICMP sockets only to groups inside <c>net.ipv4.ping_group_range</c>, and the
    /// CI host allows nobody (<c>1 0</c>), root included. To run those tests:
    /// <c>unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.ping_group_range="0 2147483647"; dotnet test ...'</c>.
    /// </summary>
    public static string? NoDatagramIcmp { get; } = ProbeDatagramIcmp();

    private static string? ProbeIcmp()
    {
        try
        {
            SocketIcmpEndpoint.Open(IPAddress.Loopback, ttl: null).Dispose();
            return null;
        }
        catch (IcmpUnavailableException e)
        {
            return "Needs root, CAP_NET_RAW or a ping_group_range that includes this user (CI runs as root): " + e.Message;
        }
    }

    private static string? ProbeDatagramIcmp()
    {
        try
        {
            new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp).Dispose();
            return null;
        }
        catch (SocketException e)
        {
            return $"Datagram ICMP sockets are refused here ({e.SocketErrorCode}; Linux: sysctl net.ipv4.ping_group_range).";
        }
    }
}

/// <summary>A test that pings for real; see <see cref="IcmpHost.CannotPing"/>.</summary>
public sealed class IcmpFactAttribute : FactAttribute
{
    public IcmpFactAttribute() => Skip = IcmpHost.CannotPing;
}

/// <summary>The <see cref="IcmpFactAttribute"/> of theories.</summary>
public sealed class IcmpTheoryAttribute : TheoryAttribute
{
    public IcmpTheoryAttribute() => Skip = IcmpHost.CannotPing;
}

/// <summary>A theory of what only root may do: open raw sockets; see <see cref="IcmpHost.NotRoot"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute() => Skip = IcmpHost.NotRoot;
}

/// <summary>A theory of the unprivileged datagram ICMP socket path; see <see cref="IcmpHost.NoDatagramIcmp"/>.</summary>
public sealed class DatagramIcmpTheoryAttribute : TheoryAttribute
{
    public DatagramIcmpTheoryAttribute() => Skip = IcmpHost.NoDatagramIcmp;
}
