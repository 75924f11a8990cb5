using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Reactive.Testing;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Asio2.Rx.Tests.Core;

[CollectionDefinition(nameof(DiagnosticsTests), DisableParallelization = true)]
public class DiagnosticsCollection;

/// <summary>Runs alone: the activity source and the meter are process-wide, and every other test makes sessions.</summary>
[Collection(nameof(DiagnosticsTests))]
public class DiagnosticsTests
{
    [Fact]
    public async Task TcpEcho_GivesOneSpanPerSessionAndTheMetersValues_ToOpenTelemetry()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx").AddInMemoryExporter(spans).Build();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeter("Asio2.Rx").AddInMemoryExporter(metrics).Build();

        Session serverSession, clientSession;
        int port;
        await using (var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') }))
        {
            var accepted = server.Sessions.FirstAsync().ToTask();
            server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Text + "\n"));
            port = server.Start("127.0.0.1", 0).Port;
            await using (var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') }))
            {
                var reply = client.Frames.Select(f => f.Text).FirstAsync().ToTask();
                clientSession = await client.Connect("127.0.0.1", port).Timeout(Wait.Long);
                await client.Send("hello\n");
                Assert.Equal("hello", await reply.WaitAsync(Wait.Long));
            } // the client closes; the server's session sees the end of stream
            serverSession = await accepted.WaitAsync(Wait.Long);
            await serverSession.Closed.LastAsync().ToTask().WaitAsync(Wait.Long);
        }
        Assert.True(tracing.ForceFlush());
        Assert.True(metering.ForceFlush());

        var serverSpan = spans.Single(s => Equals(s.GetTagItem("asio2rx.session.id"), serverSession.Id));
        var clientSpan = spans.Single(s => Equals(s.GetTagItem("asio2rx.session.id"), clientSession.Id));
        foreach (var span in new[] { serverSpan, clientSpan })
        {
            Assert.Equal("tcp session", span.DisplayName);
            Assert.Equal(default, span.ParentSpanId); // each connection is the root of its own trace
            Assert.Equal("tcp", span.GetTagItem("network.transport"));
            Assert.Equal("ipv4", span.GetTagItem("network.type"));
            Assert.Equal("127.0.0.1", span.GetTagItem("network.peer.address"));
            Assert.Equal(6L, span.GetTagItem("asio2rx.session.bytes_received"));
            Assert.Equal(1L, span.GetTagItem("asio2rx.session.frames_received"));
            Assert.Equal(ActivityStatusCode.Unset, span.Status);
            Assert.Null(span.GetTagItem("error.type"));
        }
        Assert.Equal(port, serverSpan.GetTagItem("network.local.port"));
        Assert.Equal(port, clientSpan.GetTagItem("network.peer.port"));
        Assert.Equal("RemoteClose", serverSpan.GetTagItem("asio2rx.close.reason"));
        Assert.Equal("LocalClose", clientSpan.GetTagItem("asio2rx.close.reason"));
        Assert.NotEqual(serverSpan.TraceId, clientSpan.TraceId);

        // Counters are process-wide: sessions of tests that ran before may still be closing, so "at least".
        Assert.True(Sum(metrics, "asio2rx.session.opened", "{session}", null) >= 2);
        Assert.True(Sum(metrics, "asio2rx.session.closed", "{session}", ("asio2rx.close.reason", "RemoteClose")) >= 1);
        Assert.True(Sum(metrics, "asio2rx.session.closed", "{session}", ("asio2rx.close.reason", "LocalClose")) >= 1);
        Assert.True(Sum(metrics, "asio2rx.io", "By", ("network.io.direction", "receive")) >= 12);
        Assert.True(Sum(metrics, "asio2rx.io", "By", ("network.io.direction", "transmit")) >= 12);
        Assert.True(Sum(metrics, "asio2rx.frame.received", "{frame}", null) >= 2);
        Assert.Contains(metrics, m => m.Name == "asio2rx.session.count" && m.Unit == "{session}" && m.MetricType == MetricType.LongSumNonMonotonic);
    }

    [Fact]
    public void SessionThatEndsInAFault_HasErrorStatusAndErrorType()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx").AddInMemoryExporter(spans).Build();
        var scheduler = new TestScheduler();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) });
        pair.Start();

        pair.A.Abort(); // A aborts; B sees a reset
        scheduler.Start();
        tracing.ForceFlush();

        var a = spans.Single(s => Equals(s.GetTagItem("asio2rx.session.id"), pair.A.Id));
        var b = spans.Single(s => Equals(s.GetTagItem("asio2rx.session.id"), pair.B.Id));
        Assert.Equal("memory session", b.DisplayName);
        Assert.Equal(ActivityStatusCode.Unset, a.Status); // asked for: not a fault
        Assert.Equal("LocalAbort", a.GetTagItem("asio2rx.close.reason"));
        Assert.Equal(ActivityStatusCode.Error, b.Status);
        Assert.Equal("Reset", b.GetTagItem("error.type"));
        Assert.Equal("Reset", b.GetTagItem("asio2rx.close.reason"));
    }

    [Fact]
    public void TraceContext_InjectedByTheClientSpan_IsTheServerSpansParent_AndTheServerSpanLinksItsConnection()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx").AddInMemoryExporter(spans).Build();
        var scheduler = new TestScheduler();
        var pair = InMemory.CreatePair(new SessionOptions { Schedulers = new SchedulerPool(scheduler) });
        pair.Start();
        var headers = new Dictionary<string, string>();

        using (var client = Asio2Diagnostics.StartClientSpan("call add", headers, static (h, k, v) => h[k] = v))
        using (var server = Asio2Diagnostics.StartServerSpan("call add", headers, static (h, k) => h.GetValueOrDefault(k), pair.B))
        {
            Assert.NotNull(client);
            Assert.NotNull(server);
            Assert.StartsWith($"00-{client.TraceId}-{client.SpanId}-", headers["traceparent"]); // then the flags
            Assert.Equal(ActivityKind.Client, client.Kind);
            Assert.Equal(ActivityKind.Server, server.Kind);
            Assert.Equal(client.TraceId, server.TraceId);
            Assert.Equal(client.SpanId, server.ParentSpanId);
            Assert.True(server.HasRemoteParent);
            var link = Assert.Single(server.Links);
            Assert.Equal(Asio2Diagnostics.SessionSpan(pair.B)!.SpanId, link.Context.SpanId);
        }

        // No (or a malformed) traceparent: the server span starts a trace of its own.
        using var orphan = Asio2Diagnostics.StartServerSpan("call add", new Dictionary<string, string> { ["traceparent"] = "00-garbage" },
            static (h, k) => h.GetValueOrDefault(k), session: null);
        Assert.NotNull(orphan);
        Assert.Equal(default, orphan.ParentSpanId);
        Assert.Empty(orphan.Links);
        pair.A.Abort();
        scheduler.Start();
    }

    private static long Sum(List<Metric> metrics, string name, string unit, (string Key, string Value)? tag)
    {
        // The exporter keeps every export; the last one of a cumulative metric holds the totals.
        var metric = metrics.LastOrDefault(m => m.Name == name && m.Unit == unit);
        if (metric is null) return 0;
        long sum = 0;
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            bool tcp = false, match = tag is null;
            foreach (var t in point.Tags)
            {
                if (t.Key == "asio2rx.transport" && Equals(t.Value, "tcp")) tcp = true;
                if (tag is { } want && t.Key == want.Key && Equals(t.Value, want.Value)) match = true;
            }
            if (tcp && match) sum += point.GetSumLong();
        }
        return sum;
    }
}
