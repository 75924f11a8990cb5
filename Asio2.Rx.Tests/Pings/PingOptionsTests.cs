using System.Net;
using System.Text;
using Asio2.Rx;

namespace Asio2.Rx.Tests.Pings;

public sealed class PingOptionsTests
{
    [Fact]
    public void Defaults_are_four_requests_one_second_apart_one_second_timeout_and_the_asio2_payload()
    {
        var options = new PingOptions();

        Assert.Equal(4, options.Count);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Interval);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Timeout);
        Assert.Equal("\"Hello!\" from Asio ping.", Encoding.ASCII.GetString(options.Payload.Span));
        Assert.Null(options.Ttl);
        Assert.Null(options.Identifier);
        Assert.Null(options.Scheduler);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void Count_rejects_zero_and_negatives_other_than_forever(int count)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PingOptions { Count = count });
    }

    [Fact]
    public void Interval_and_timeout_reject_zero()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PingOptions { Interval = TimeSpan.Zero });
        Assert.Throws<ArgumentOutOfRangeException>(() => new PingOptions { Timeout = TimeSpan.Zero });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    public void Ttl_rejects_values_outside_1_to_255(int ttl)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PingOptions { Ttl = ttl });
    }

    [Fact]
    public void Payload_rejects_more_than_fits_one_ipv4_datagram()
    {
        _ = new PingOptions { Payload = new byte[65507] };
        Assert.Throws<ArgumentOutOfRangeException>(() => new PingOptions { Payload = new byte[65508] });
    }

    [Fact]
    public void Ping_rejects_a_timeout_that_spans_65536_intervals_because_sequence_numbers_would_repeat()
    {
        var options = new PingOptions { Interval = TimeSpan.FromTicks(1), Timeout = TimeSpan.FromTicks(65536) };

        Assert.Throws<ArgumentException>("options", () => Icmp.Ping(IPAddress.Loopback, options));
    }

    [Fact]
    public void Resolving_takes_a_snapshot_so_later_changes_to_the_options_and_payload_do_not_leak_in()
    {
        byte[] payload = [1, 2, 3];
        var options = new PingOptions { Payload = payload, Count = 2 };

        PingSettings settings = options.Resolve();
        payload[0] = 9;
        options.Count = 7;

        Assert.Equal([1, 2, 3], settings.Payload);
        Assert.Equal(2, settings.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void Ping_rejects_an_empty_host(string host)
    {
        Assert.Throws<ArgumentException>("host", () => Icmp.Ping(host));
    }
}
