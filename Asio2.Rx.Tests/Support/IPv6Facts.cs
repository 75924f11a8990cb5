using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Xunit.Sdk;

namespace Asio2.Rx.Tests;

/// <summary>
/// Whether this host has IPv6 on loopback, found by binding a socket to <c>[::1]:0</c> once: a kernel without IPv6
/// refuses the socket, and one with IPv6 switched off (<c>sysctl net.ipv6.conf.all.disable_ipv6=1</c>, common in
/// containers) refuses the address. Tests that need it say so with <see cref="IPv6FactAttribute"/> (a fact) or
/// <see cref="IPv6InlineDataAttribute"/> (the IPv6 row of a theory, so the IPv4 rows still run).
/// </summary>
internal static class IPv6Loopback
{
    /// <summary>Why IPv6 tests cannot run here, or null when <c>::1</c> can be bound.</summary>
    public static string? Missing { get; } = Probe();

    private static string? Probe()
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return null;
        }
        catch (SocketException e)
        {
            return $"This host has no IPv6 loopback: binding [::1]:0 failed with {e.SocketErrorCode}.";
        }
    }
}

/// <summary>A test that needs IPv6 on loopback: skipped with the reason where the host has none.</summary>
public sealed class IPv6FactAttribute : FactAttribute
{
    public IPv6FactAttribute() => Skip = IPv6Loopback.Missing;
}

/// <summary>
/// A theory row that needs IPv6 on loopback, e.g. <c>[InlineData("127.0.0.1")] [IPv6InlineData("::1")]</c>: this row
/// is skipped with the reason where the host has none, the others still run.
/// </summary>
public sealed class IPv6InlineDataAttribute : DataAttribute
{
    private readonly object?[] _data;

    public IPv6InlineDataAttribute(params object?[] data)
    {
        _data = data;
        Skip = IPv6Loopback.Missing;
    }

    public override IEnumerable<object?[]> GetData(MethodInfo testMethod) => [_data];
}
