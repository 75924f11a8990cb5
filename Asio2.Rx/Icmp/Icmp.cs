using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>
/// ICMP echo ("ping") as observables: asio2's <c>ping</c> class, with replies as a stream and statistics as an operator.
/// </summary>
/// <example>
/// <code>
/// PingStatistics summary = await Icmp.Ping("127.0.0.1", new PingOptions { Count = 3 })
///     .Do(reply => Console.WriteLine(reply))
///     .Statistics()
///     .LastAsync();
/// Console.WriteLine(summary);
/// </code>
/// </example>
public static class Icmp
{
    /// <summary>
    /// Pings <paramref name="host"/>, a name or an IPv4/IPv6 address literal, and emits one <see cref="PingReply"/> per
    /// request: a reply, or a timeout after <see cref="PingOptions.Timeout"/>.
    /// </summary>
    /// <remarks>
    /// Cold: each subscription resolves the name (the first address the resolver returns; literals are not resolved),
    /// opens its own ICMP socket, sends the first request at once and one every <see cref="PingOptions.Interval"/>,
    /// and completes after <see cref="PingOptions.Count"/> results (never, for <see cref="PingOptions.Forever"/>).
    /// Disposing the subscription closes the socket. Results are emitted when decided: in sequence order unless the
    /// timeout is longer than the interval. ICMP errors about a request (unreachable, TTL exceeded) are not reported;
    /// the request times out.
    /// <para>
    /// The stream errors only when pinging cannot start or go on: the name does not resolve
    /// (<see cref="SocketException"/>), no ICMP socket may be opened (<see cref="IcmpUnavailableException"/>), or the socket
    /// fails. A request the system refuses to send is logged and times out, as <c>ping</c> carries on after a send error.
    /// </para>
    /// </remarks>
    /// <param name="host">A host name, or an address literal such as <c>127.0.0.1</c> or <c>::1</c>.</param>
    /// <param name="options">Count, interval, timeout, payload, TTL, scheduler; null for the defaults.</param>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty, or the options' timeout spans 65536 intervals.</exception>
    public static IObservable<PingReply> Ping(string host, PingOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        PingSettings settings = Resolve(options);
        if (IPAddress.TryParse(host, out IPAddress? address)) return Ping(address, settings);

        return Observable.FromAsync(cancel => Dns.GetHostAddressesAsync(host, cancel))
            .SelectMany(addresses => Ping(
                addresses.FirstOrDefault(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                ?? throw new SocketException((int)SocketError.HostNotFound, $"{host} has no IPv4 or IPv6 address."),
                settings));
    }

    /// <summary>Pings <paramref name="address"/>; see <see cref="Ping(string, PingOptions?)"/>.</summary>
    /// <param name="address">An IPv4 or IPv6 address; an IPv4-mapped IPv6 address is pinged over IPv4.</param>
    /// <param name="options">Count, interval, timeout, payload, TTL, scheduler; null for the defaults.</param>
    /// <exception cref="ArgumentException">The options' timeout spans 65536 intervals.</exception>
    public static IObservable<PingReply> Ping(IPAddress address, PingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Ping(address, Resolve(options));
    }

    /// <summary>
    /// Running statistics over ping results: after every reply or timeout, the totals so far (sent, received, loss %,
    /// min/avg/max/stddev round-trip time). Append <c>.LastAsync()</c> for the summary at the end.
    /// </summary>
    /// <param name="replies">Ping results, typically from <see cref="Ping(string, PingOptions?)"/>.</param>
    /// <returns>One <see cref="PingStatistics"/> per result; completes and errors with <paramref name="replies"/>.</returns>
    public static IObservable<PingStatistics> Statistics(this IObservable<PingReply> replies)
    {
        ArgumentNullException.ThrowIfNull(replies);
        return replies
            .Scan(default(PingStatisticsAccumulator), static (totals, reply) => totals.Add(reply))
            .Select(static totals => totals.ToStatistics());
    }

    /// <summary>The ping over a given endpoint factory: real sockets in production, a fake endpoint in virtual-time tests.</summary>
    internal static IObservable<PingReply> Ping(IPAddress address, PingSettings settings, Func<IIcmpEndpoint> openEndpoint, IcmpCounters? counters = null) =>
        PingRun.Create(address, settings, openEndpoint, counters);

    private static IObservable<PingReply> Ping(IPAddress address, PingSettings settings)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return Ping(address, settings, () => SocketIcmpEndpoint.Open(address, settings.Ttl));
    }

    private static PingSettings Resolve(PingOptions? options)
    {
        PingSettings settings = (options ?? new PingOptions()).Resolve();
        // Sequence numbers are 16 bits on the wire; a request must be decided before its number comes round again.
        if (settings.Timeout.Ticks / 65536 >= settings.Interval.Ticks)
            throw new ArgumentException("PingOptions.Timeout must be shorter than 65536 intervals, or sequence numbers would repeat while a request is pending.", nameof(options));
        return settings;
    }
}
