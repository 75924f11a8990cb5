using System.Net;
using System.Net.Sockets;
using System.Reactive;
using System.Reactive.Linq;
using Asio2.Rx;
using Microsoft.Reactive.Testing;
using static Microsoft.Reactive.Testing.ReactiveTest;

namespace Asio2.Rx.Tests.Pings;

/// <summary>The ping protocol logic in virtual time, over <see cref="FakeIcmpEndpoint"/>.</summary>
public sealed class PingTests
{
    private const ushort Id = 0x1234;
    private static readonly IPAddress Target = IPAddress.Parse("192.0.2.7");
    private static readonly int PayloadBytes = 8 + PingOptions.DefaultPayload.Length;

    private readonly TestScheduler _scheduler = new();
    private readonly IcmpCounters _counters = new();

    private static long Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds).Ticks;

    private PingSettings Settings(int count = 4, double intervalMs = 1000, double timeoutMs = 1000, ushort? identifier = Id) =>
        new PingOptions
        {
            Count = count,
            Interval = TimeSpan.FromMilliseconds(intervalMs),
            Timeout = TimeSpan.FromMilliseconds(timeoutMs),
            Identifier = identifier,
            Scheduler = _scheduler,
        }.Resolve();

    /// <summary>
    /// A reply reaches the ping on the receive loop and is handed to the scheduler to be matched and emitted;
    /// a <see cref="TestScheduler"/> runs such "now" work one tick later. Timeouts are scheduled ahead and take no hop.
    /// </summary>
    private const long Hop = 1;

    /// <summary>Subscribes at virtual time 0 and runs the clock to <paramref name="until"/> (default: two hours).</summary>
    private ITestableObserver<PingReply> Run(FakeIcmpEndpoint endpoint, PingSettings settings, long? until = null, IPAddress? target = null) =>
        Run(Icmp.Ping(target ?? Target, settings, () => endpoint, _counters), until);

    private ITestableObserver<T> Run<T>(IObservable<T> source, long? until = null)
    {
        var observer = _scheduler.CreateObserver<T>();
        source.Subscribe(observer);
        _scheduler.AdvanceTo(until ?? TimeSpan.FromHours(2).Ticks);
        return observer;
    }

    private static PingReply Reply(long sequence, double rttMs) =>
        new(sequence, IcmpPackets.Peer, FakeIcmpEndpoint.ReplyTtl, TimeSpan.FromMilliseconds(rttMs), false, PayloadBytes);

    private static PingReply Timeout(long sequence) => new(sequence, Target, null, TimeSpan.Zero, true, 0);

    /// <summary>A packet for sequence 0 as an IPv4 raw socket delivers it.</summary>
    private static byte[] Packet(byte type, ushort identifier = Id) =>
        IcmpPackets.WithIPv4Header(IcmpPackets.Echo(type, identifier, 0, PingOptions.DefaultPayload.Span));

    [Fact]
    public void First_request_goes_out_on_subscription_and_the_next_at_every_interval()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);

        Run(endpoint, Settings(count: 4, intervalMs: 250));

        Assert.Equal([(0L, Id, (ushort)0), (Ms(250), Id, (ushort)1), (Ms(500), Id, (ushort)2), (Ms(750), Id, (ushort)3)],
            endpoint.Sent.Select(s => (s.Time, s.Identifier, s.Sequence)));
        Assert.Equal(IcmpPackets.Echo(IcmpCodec.EchoRequestV4, Id, 0, PingOptions.DefaultPayload.Span), endpoint.Sent[0].Message);
    }

    [Fact]
    public void Replies_carry_sequence_source_ttl_size_and_the_round_trip_time_of_the_virtual_clock()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => TimeSpan.FromMilliseconds(10 * (seq + 1) + 0.5) };

        var results = Run(endpoint, Settings(count: 3));

        Assert.Equal(
            [
                OnNext(Ms(10.5) + Hop, Reply(0, 10.5)),
                OnNext(Ms(1020.5) + Hop, Reply(1, 20.5)),
                OnNext(Ms(2030.5) + Hop, Reply(2, 30.5)),
                OnCompleted<PingReply>(Ms(2030.5) + Hop),
            ],
            results.Messages);
    }

    [Fact]
    public void A_lost_reply_is_reported_timed_out_at_exactly_the_timeout_tick()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => seq == 1 ? null : TimeSpan.FromMilliseconds(10) };

        var results = Run(endpoint, Settings(count: 3, timeoutMs: 500));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnNext(Ms(1500), Timeout(1)), OnNext(Ms(2010) + Hop, Reply(2, 10)), OnCompleted<PingReply>(Ms(2010) + Hop)],
            results.Messages);
        Assert.Equal(1, _counters.Timeouts);
    }

    [Fact]
    public void A_reply_after_the_timeout_is_reported_timed_out_at_the_timeout_tick_and_the_late_reply_is_ignored()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => TimeSpan.FromMilliseconds(seq == 0 ? 700 : 10) };

        var results = Run(endpoint, Settings(count: 2, timeoutMs: 500));

        Assert.Equal([OnNext(Ms(500), Timeout(0)), OnNext(Ms(1010) + Hop, Reply(1, 10)), OnCompleted<PingReply>(Ms(1010) + Hop)], results.Messages);
        Assert.Equal(1, _counters.Late);
    }

    [Fact]
    public void A_reply_at_exactly_the_timeout_counts_as_timed_out()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = _ => TimeSpan.FromMilliseconds(500) };

        var results = Run(endpoint, Settings(count: 2, timeoutMs: 500));

        Assert.Equal([OnNext(Ms(500), Timeout(0)), OnNext(Ms(1500), Timeout(1)), OnCompleted<PingReply>(Ms(1500))], results.Messages);
        Assert.Equal(1, _counters.Late); // the second reply comes when the ping has completed and closed its socket
    }

    [Fact]
    public void With_a_timeout_longer_than_the_interval_results_are_emitted_as_they_are_decided()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => TimeSpan.FromMilliseconds(seq == 0 ? 2500 : 100) };

        var results = Run(endpoint, Settings(count: 2, timeoutMs: 3000));

        Assert.Equal([OnNext(Ms(1100) + Hop, Reply(1, 100)), OnNext(Ms(2500) + Hop, Reply(0, 2500)), OnCompleted<PingReply>(Ms(2500) + Hop)], results.Messages);
    }

    [Fact]
    public void Completion_after_count_results_closes_the_endpoint_and_stops_sending()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);

        var results = Run(endpoint, Settings(count: 2));

        Assert.Equal(Ms(1010) + Hop, results.Messages.Single(m => m.Value.Kind == NotificationKind.OnCompleted).Time);
        Assert.True(endpoint.Disposed);
        Assert.Equal(2, endpoint.Sent.Count);
    }

    [Fact]
    public void Count_forever_never_completes()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => seq % 10 == 0 ? null : TimeSpan.FromMilliseconds(5) };

        var results = Run(endpoint, Settings(count: PingOptions.Forever), until: TimeSpan.FromHours(1).Ticks + Hop);

        Assert.Equal(3600, results.Messages.Count);
        Assert.All(results.Messages, m => Assert.Equal(NotificationKind.OnNext, m.Value.Kind));
        Assert.Equal(Enumerable.Range(0, 3600).Select(i => (long)i), results.Messages.Select(m => m.Value.Value.Sequence).Order());
        Assert.Equal(360, _counters.Timeouts);
        Assert.Equal(3601, endpoint.Sent.Count);
        Assert.False(endpoint.Disposed);
    }

    [Fact]
    public void Sequence_numbers_wrap_at_65536_on_the_wire_but_keep_counting_in_replies()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);

        var results = Run(endpoint, Settings(count: 65538, intervalMs: 20, timeoutMs: 15));

        Assert.Equal([(ushort)65535, (ushort)0, (ushort)1], endpoint.Sent.Skip(65535).Select(s => s.Sequence));
        Assert.Equal(OnNext(Ms(65537 * 20 + 10) + Hop, Reply(65537, 10)), results.Messages[^2]);
    }

    [Fact]
    public void Disposing_the_subscription_stops_sending_and_closes_the_endpoint()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = _ => null };

        var results = _scheduler.CreateObserver<PingReply>();
        IDisposable subscription = Icmp.Ping(Target, Settings(count: 10, timeoutMs: 800), () => endpoint).Subscribe(results);
        _scheduler.AdvanceTo(Ms(2500));
        subscription.Dispose();
        _scheduler.AdvanceBy(TimeSpan.FromMinutes(1).Ticks);

        Assert.Equal(3, endpoint.Sent.Count);
        Assert.True(endpoint.Disposed);
        Assert.Equal([OnNext(Ms(800), Timeout(0)), OnNext(Ms(1800), Timeout(1))], results.Messages);
    }

    [Fact]
    public void Own_requests_foreign_identifiers_and_other_icmp_are_ignored_and_counted_as_unmatched()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(1), Packet(IcmpCodec.EchoRequestV4));
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(2), Packet(IcmpCodec.EchoReplyV4, Id + 1));
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(3), Packet(3)); // destination unreachable

        var results = Run(endpoint, Settings(count: 1));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnCompleted<PingReply>(Ms(10) + Hop)], results.Messages);
        Assert.Equal(3, _counters.Unmatched);
    }

    [Fact]
    public void Truncated_and_corrupt_packets_are_ignored_and_counted_as_malformed()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);
        byte[] reply = Packet(IcmpCodec.EchoReplyV4);
        byte[] corrupt = (byte[])reply.Clone();
        corrupt[^1] ^= 0xFF;
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(1), reply[..25]);
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(2), corrupt);
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(3), []);

        var results = Run(endpoint, Settings(count: 1));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnCompleted<PingReply>(Ms(10) + Hop)], results.Messages);
        Assert.Equal(3, _counters.Malformed);
    }

    [Fact]
    public void A_duplicate_reply_is_emitted_once_and_counted_as_late()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);
        endpoint.DeliverAfter(TimeSpan.FromMilliseconds(20), Packet(IcmpCodec.EchoReplyV4));

        var results = Run(endpoint, Settings(count: 2));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnNext(Ms(1010) + Hop, Reply(1, 10)), OnCompleted<PingReply>(Ms(1010) + Hop)], results.Messages);
        Assert.Equal(1, _counters.Late);
    }

    [Fact]
    public void Replies_on_a_socket_that_assigns_identifiers_match_whatever_identifier_the_kernel_chose()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { AssignsIdentifier = true, ReplyIdentifier = 4711 };

        var results = Run(endpoint, Settings(count: 1));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnCompleted<PingReply>(Ms(10) + Hop)], results.Messages);
    }

    [Fact]
    public void An_ipv6_ping_sends_icmpv6_requests_and_matches_replies_without_an_ip_header_or_ttl()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler, ipv6: true);

        var results = Run(endpoint, Settings(count: 1), target: IPAddress.Parse("2001:db8::7"));

        Assert.Equal(IcmpPackets.Echo(IcmpCodec.EchoRequestV6, Id, 0, PingOptions.DefaultPayload.Span, ipv6: true), endpoint.Sent[0].Message);
        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10) with { Ttl = null }), OnCompleted<PingReply>(Ms(10) + Hop)], results.Messages);
    }

    [Fact]
    public void A_request_the_system_refuses_to_send_times_out_and_the_ping_goes_on()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { RefuseSend = seq => seq == 0 };

        var results = Run(endpoint, Settings(count: 2, timeoutMs: 300));

        Assert.Equal([OnNext(Ms(300), Timeout(0)), OnNext(Ms(1010) + Hop, Reply(1, 10)), OnCompleted<PingReply>(Ms(1010) + Hop)], results.Messages);
        Assert.Equal(1, _counters.SendFailures);
        Assert.Equal(1, _counters.Sent);
    }

    [Fact]
    public void An_endpoint_that_cannot_be_opened_errors_the_stream_on_subscription()
    {
        var refused = new IcmpUnavailableException("no ICMP here", null);

        var results = Run(Icmp.Ping(Target, Settings(), () => throw refused));

        Assert.Equal([OnError<PingReply>(0, refused)], results.Messages);
    }

    [Fact]
    public void A_failing_socket_ends_the_stream_with_its_error_and_closes_the_endpoint()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler);
        var failure = new SocketException((int)SocketError.NetworkDown);
        endpoint.FailAt(Ms(1500), failure);

        var results = Run(endpoint, Settings(count: 4));

        Assert.Equal([OnNext(Ms(10) + Hop, Reply(0, 10)), OnNext(Ms(1010) + Hop, Reply(1, 10)), OnError<PingReply>(Ms(1500) + Hop, failure)], results.Messages);
        Assert.True(endpoint.Disposed);
    }

    [Fact]
    public void Each_subscription_opens_its_own_endpoint_with_its_own_identifier()
    {
        var endpoints = new List<FakeIcmpEndpoint>();
        IObservable<PingReply> ping = Icmp.Ping(Target, Settings(count: 1, identifier: null), () =>
        {
            endpoints.Add(new FakeIcmpEndpoint(_scheduler));
            return endpoints[^1];
        });

        ping.Subscribe();
        ping.Subscribe();
        _scheduler.Start();

        Assert.Equal(2, endpoints.Count);
        Assert.NotEqual(endpoints[0].Sent.Single().Identifier, endpoints[1].Sent.Single().Identifier);
        Assert.All(endpoints, e => Assert.True(e.Disposed));
    }

    [Fact]
    public void Statistics_over_a_virtual_time_ping_count_losses_and_round_trip_times_exactly()
    {
        var endpoint = new FakeIcmpEndpoint(_scheduler) { ReplyDelay = seq => seq % 2 == 1 ? null : TimeSpan.FromMilliseconds(10 + 10 * seq) };

        var results = Run(Icmp.Ping(Target, Settings(count: 4), () => endpoint).Statistics().LastAsync());

        var expected = new PingStatistics(4, 2, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(10));
        Assert.Equal([OnNext(Ms(4000), expected), OnCompleted<PingStatistics>(Ms(4000))], results.Messages);
        Assert.Equal(50, results.Messages[0].Value.Value.LossPercent);
    }
}
