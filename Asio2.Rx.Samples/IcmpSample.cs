using System.Reactive.Linq;

namespace Asio2.Rx.Samples;

/// <summary>asio2's ping class: echo requests as a stream, statistics as an operator.</summary>
internal sealed class IcmpSample : ISample
{
    public string Name => "ping";
    public string Description => "ICMP ping of 127.0.0.1 and ::1 with statistics (raw sockets need root)";
    public int Order => 50;

    public async Task RunAsync(string[] args)
    {
        foreach (var host in new[] { "127.0.0.1", "::1" })
        {
            try
            {
                PingStatistics stats = await Icmp.Ping(host, new PingOptions { Count = 3, Interval = TimeSpan.FromMilliseconds(200) })
                    .Do(reply => Console.WriteLine(reply))
                    .Statistics()
                    .LastAsync();
                Console.WriteLine(stats);
            }
            catch (IcmpUnavailableException e)
            {
                Console.WriteLine($"ping {host}: skipped, {e.Message}");
            }
        }
    }
}
