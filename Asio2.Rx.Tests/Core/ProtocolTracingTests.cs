using System.Buffers;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Asio2.Rx.Tests.Core;

/// <summary>
/// HTTP and RPC spans and the HTTP request metric, as OpenTelemetry's SDK exports them (in-memory exporter). Runs in
/// the diagnostics collection: the activity source and the meter are process-wide.
/// </summary>
[Collection(nameof(DiagnosticsTests))]
public class ProtocolTracingTests
{
    private static readonly ActivitySource s_app = new("Asio2.Rx.Tests.App");

    [Fact]
    public async Task HttpRequest_ClientSpanIsTheServerSpansParent_AndTheDurationIsRecordedByRoute()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        // System.Net.Http: HttpClient's own client span, which injects traceparent (RxHttpClient adds none of its own).
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx", "System.Net.Http", s_app.Name).AddInMemoryExporter(spans).Build();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeter("Asio2.Rx").AddInMemoryExporter(metrics).Build();

        ActivityTraceId traceId;
        ActivitySpanId rootId;
        await using (var server = new HttpServer())
        {
            server.Map("GET", "/traced/{name}", ctx => $"hello {ctx.RouteValues["name"]}");
            server.Map("GET", "/traced-fail", (Func<HttpContext, string>)(_ => throw new InvalidOperationException("boom")));
            var bound = server.Start("127.0.0.1", 0);
            using var client = new RxHttpClient();
            using (var root = s_app.StartActivity("request a page")!)
            {
                traceId = root.TraceId;
                rootId = root.SpanId;
                Assert.Equal("hello ada", await client.Get($"http://127.0.0.1:{bound.Port}/traced/ada?x=1").Timeout(Wait.Long));
                await Assert.ThrowsAsync<HttpRequestException>(() => client.Get($"http://127.0.0.1:{bound.Port}/traced-fail").Timeout(Wait.Long).ToTask());
            }
        } // the server's stop waits for every connection to close, and so for every request's span to end
        Assert.True(tracing.ForceFlush());
        Assert.True(metering.ForceFlush());

        var serverSpan = spans.Single(s => s.Source.Name == "Asio2.Rx" && s.DisplayName == "GET /traced/{name}");
        var clientSpan = spans.Single(s => s.Source.Name == "System.Net.Http" && s.SpanId == serverSpan.ParentSpanId);
        Assert.Equal(ActivityKind.Server, serverSpan.Kind);
        Assert.Equal(traceId, serverSpan.TraceId);
        Assert.True(serverSpan.HasRemoteParent);
        Assert.Equal(rootId, clientSpan.ParentSpanId);
        Assert.Equal("GET", serverSpan.GetTagItem("http.request.method"));
        Assert.Equal("/traced/ada", serverSpan.GetTagItem("url.path"));
        Assert.Equal("http", serverSpan.GetTagItem("url.scheme"));
        Assert.Equal("/traced/{name}", serverSpan.GetTagItem("http.route"));
        Assert.Equal(200, serverSpan.GetTagItem("http.response.status_code"));
        Assert.Equal("1.1", serverSpan.GetTagItem("network.protocol.version"));
        Assert.Equal("127.0.0.1", serverSpan.GetTagItem("server.address"));
        Assert.Equal("127.0.0.1", serverSpan.GetTagItem("client.address"));
        Assert.Equal(ActivityStatusCode.Unset, serverSpan.Status);
        var connection = Assert.Single(serverSpan.Links).Context; // the connection's session span
        Assert.Contains(spans, s => s.SpanId == connection.SpanId && s.DisplayName == "tcp session");

        var failed = spans.Single(s => s.Source.Name == "Asio2.Rx" && s.DisplayName == "GET /traced-fail");
        Assert.Equal(traceId, failed.TraceId);
        Assert.Equal(500, failed.GetTagItem("http.response.status_code"));
        Assert.Equal("500", failed.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, failed.Status);

        var ok = HistogramPoint(metrics, "/traced/{name}");
        Assert.Equal(1, ok.GetHistogramCount());
        Assert.InRange(ok.GetHistogramSum(), 0, Wait.Long.TotalSeconds);
        var tags = Tags(ok);
        Assert.Equal("GET", tags["http.request.method"]);
        Assert.Equal(200, Convert.ToInt32(tags["http.response.status_code"]));
        Assert.Equal("http", tags["url.scheme"]);
        Assert.False(tags.ContainsKey("error.type"));
        var error = Tags(HistogramPoint(metrics, "/traced-fail"));
        Assert.Equal(500, Convert.ToInt32(error["http.response.status_code"]));
        Assert.Equal("500", error["error.type"]);
        var duration = metrics.Last(m => m.Name == "http.server.request.duration");
        Assert.Equal("s", duration.Unit);
        Assert.Equal(MetricType.Histogram, duration.MetricType);
    }

    [Fact]
    public async Task HttpSpans_EndAtAnUpgradesHandOver_AndFailWhenTheConnectionDropsTheRequest()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx").AddInMemoryExporter(spans).Build();
        var parked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var server = new HttpServer())
        {
            server.MapUpgrade("/traced-upgrade", async ctx =>
            {
                ctx.Response.Headers.Set("Upgrade", "echo");
                await using var connection = (await ctx.AcceptUpgradeAsync()).Stream;
            });
            server.Map("GET", "/traced-never", _ => parked.SetResult()); // never answers
            var bound = server.Start("127.0.0.1", 0);
            using (var socket = await Wait.ConnectRaw(bound))
            {
                await socket.SendAsync("GET /traced-upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"u8.ToArray());
                Assert.StartsWith("HTTP/1.1 101 ", System.Text.Encoding.ASCII.GetString(await Http.HttpKit.ReadToEnd(socket)));
            }
            using (var socket = await Wait.ConnectRaw(bound))
            {
                await socket.SendAsync("GET /traced-never HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
                await parked.Task.WaitAsync(Wait.Long);
            } // the client goes away without an answer
        }
        tracing.ForceFlush();

        var upgrade = spans.Single(s => s.DisplayName == "GET /traced-upgrade");
        Assert.Equal(101, upgrade.GetTagItem("http.response.status_code"));
        Assert.Equal(ActivityStatusCode.Unset, upgrade.Status);
        var dropped = spans.Single(s => s.DisplayName == "GET /traced-never");
        Assert.Null(dropped.GetTagItem("http.response.status_code"));
        Assert.NotNull(dropped.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, dropped.Status);
    }

    [Fact]
    public async Task RpcCall_ClientSpanIsTheServerSpansParent_ThroughTheTraceContextElement()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx", s_app.Name).AddInMemoryExporter(spans).Build();

        ActivityTraceId traceId;
        ActivitySpanId rootId, innerId = default;
        await using (var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.MessagePackObject() }))
        {
            new RpcServer(tcp)
                .Bind("add", (int a, int b) =>
                {
                    // The server span is current while the function runs: the app's spans are its children.
                    using var inner = s_app.StartActivity("adding");
                    innerId = inner!.SpanId;
                    return a + b;
                })
                .Bind("fail", (Func<int>)(() => throw new InvalidOperationException("no")));
            var bound = tcp.Start("127.0.0.1", 0);
            await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.MessagePackObject() });
            var rpc = new RpcClient(client, new RpcOptions { SendTraceContext = true });
            await client.Connect("127.0.0.1", bound.Port).Timeout(Wait.Long);
            using (var root = s_app.StartActivity("compute")!)
            {
                traceId = root.TraceId;
                rootId = root.SpanId;
                Assert.Equal(3, await rpc.Call<int>("add", 1, 2).Timeout(Wait.Long));
                var failure = await Assert.ThrowsAsync<RpcException>(() => rpc.Call<int>("fail").Timeout(Wait.Long).ToTask());
                Assert.Equal(RpcErrorKind.RemoteException, failure.Kind);
            }
            await client.DisconnectAsync();
        } // the server's stop: every call it served has ended its span
        Assert.True(tracing.ForceFlush());

        var clientSpan = spans.Single(s => s.DisplayName == "add" && s.Kind == ActivityKind.Client);
        var serverSpan = spans.Single(s => s.DisplayName == "add" && s.Kind == ActivityKind.Server);
        Assert.Equal(traceId, clientSpan.TraceId);
        Assert.Equal(rootId, clientSpan.ParentSpanId);
        Assert.Equal(traceId, serverSpan.TraceId);
        Assert.Equal(clientSpan.SpanId, serverSpan.ParentSpanId);
        Assert.True(serverSpan.HasRemoteParent);
        Assert.Equal(serverSpan.SpanId, spans.Single(s => s.SpanId == innerId).ParentSpanId);
        foreach (var span in new[] { clientSpan, serverSpan })
        {
            Assert.Equal("msgpack_rpc", span.GetTagItem("rpc.system"));
            Assert.Equal("add", span.GetTagItem("rpc.method"));
            Assert.Equal(ActivityStatusCode.Unset, span.Status);
        }
        Assert.Equal("127.0.0.1", clientSpan.GetTagItem("server.address"));
        Assert.Equal("127.0.0.1", serverSpan.GetTagItem("client.address"));
        Assert.Single(serverSpan.Links);

        foreach (var kind in new[] { ActivityKind.Client, ActivityKind.Server })
        {
            var failed = spans.Single(s => s.DisplayName == "fail" && s.Kind == kind);
            Assert.Equal(traceId, failed.TraceId);
            Assert.Equal(ActivityStatusCode.Error, failed.Status);
            Assert.Equal("RemoteException", failed.GetTagItem("error.type"));
        }
    }

    [Fact]
    public async Task RpcCall_WithoutSendTraceContext_SendsTheSpecsFourElements_AndTheServerSpanStartsItsOwnTrace()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Asio2.Rx", s_app.Name).AddInMemoryExporter(spans).Build();
        var pair = InMemory.CreatePair(new SessionOptions { Framing = Framing.MessagePackObject() });
        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        pair.A.Frames.Subscribe(f =>
        {
            var reader = new MessagePack.MessagePackReader(f.Data);
            received.TrySetResult(reader.ReadArrayHeader());
        });
        var server = new RpcBindings();
        server.Bind("add", (int a, int b) => a + b);
        var client = new RpcBindings().Attach(pair.B);
        server.Attach(pair.A);
        pair.Start();

        ActivityTraceId traceId;
        using (var root = s_app.StartActivity("compute")!)
        {
            traceId = root.TraceId;
            Assert.Equal(3, await client.Call<int>("add", 1, 2).Timeout(Wait.Long));
        }
        Assert.Equal(4, await received.Task.WaitAsync(Wait.Long));
        pair.A.Close();
        pair.B.Close();
        await pair.A.Closed.LastAsync().ToTask().WaitAsync(Wait.Long);
        tracing.ForceFlush();

        var serverSpan = spans.Single(s => s.DisplayName == "add" && s.Kind == ActivityKind.Server);
        Assert.NotEqual(traceId, serverSpan.TraceId);
        Assert.Equal(default, serverSpan.ParentSpanId);
    }

    [Fact]
    public void TraceContextElement_RoundTripsOnTheWire_AndAnythingButAMapIsRefused()
    {
        var wire = new MessagePackRpcWire(RpcOptions.DefaultSerializer, 64);
        var trace = new RpcTraceContext { TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState = "congo=t61rcWkgMzE" };
        var output = new ArrayBufferWriter<byte>();
        wire.WriteRequest(output, 7, "add", [1, 2], notification: false, trace);

        var message = wire.Decode(output.WrittenMemory.ToArray());
        Assert.Equal("add", message.Method);
        Assert.Equal(7UL, message.Id);
        Assert.Equal(trace.TraceParent, message.Trace!.TraceParent);
        Assert.Equal(trace.TraceState, message.Trace.TraceState);

        output.ResetWrittenCount();
        wire.WriteRequest(output, 0, "log", ["x"], notification: true, trace);
        Assert.Equal(trace.TraceParent, wire.Decode(output.WrittenMemory.ToArray()).Trace!.TraceParent);

        // [0, 1, "add", [], "not a map"]
        byte[] bad = [0x95, 0x00, 0x01, 0xA3, (byte)'a', (byte)'d', (byte)'d', 0x90, 0xA3, (byte)'b', (byte)'a', (byte)'d'];
        Assert.Throws<RpcProtocolException>(() => wire.Decode(bad));
        // [0, 1, "add", [], {"other": 1}]: unknown keys are ignored, no context
        byte[] other = [0x95, 0x00, 0x01, 0xA3, (byte)'a', (byte)'d', (byte)'d', 0x90, 0x81, 0xA5, (byte)'o', (byte)'t', (byte)'h', (byte)'e', (byte)'r', 0x01];
        Assert.Null(wire.Decode(other).Trace);
    }

    private static MetricPoint HistogramPoint(List<Metric> metrics, string route)
    {
        var metric = metrics.Last(m => m.Name == "http.server.request.duration");
        foreach (ref readonly var point in metric.GetMetricPoints())
            if (Tags(point).TryGetValue("http.route", out var r) && Equals(r, route)) return point;
        throw new Xunit.Sdk.XunitException($"no http.server.request.duration point for {route}");
    }

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (var tag in point.Tags) tags[tag.Key] = tag.Value;
        return tags;
    }
}
