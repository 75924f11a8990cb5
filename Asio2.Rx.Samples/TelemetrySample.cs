using System.Diagnostics;
using System.Reactive.Linq;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Asio2.Rx.Samples;

/// <summary>
/// OpenTelemetry's console exporter on the library's activity source and meter (both named "Asio2.Rx"): one HTTP
/// request and one RPC call under an app span, then the spans (client → server, joined by traceparent) and the
/// meter's instruments (http.server.request.duration, asio2rx.session.*, ...) are printed. The library itself only uses
/// System.Diagnostics; the OpenTelemetry packages are the app's.
/// </summary>
internal sealed class TelemetrySample : ISample
{
    private static readonly ActivitySource s_app = new("Asio2.Rx.Samples");

    public string Name => "telemetry";
    public string Description => "OpenTelemetry console exporter: spans of an HTTP request and an RPC call, and the meter";
    public int Order => 120;

    public async Task RunAsync(string[] args)
    {
        // "System.Net.Http": HttpClient's own client span, which sends traceparent to the server.
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource("Asio2.Rx", "System.Net.Http", s_app.Name)
            .AddConsoleExporter()
            .Build();
        using var metering = Sdk.CreateMeterProviderBuilder()
            .AddMeter("Asio2.Rx")
            .AddConsoleExporter()
            .Build();

        await using (var http = new HttpServer())
        await using (var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.MessagePackObject() }))
        {
            http.Map("GET", "/hello/{name}", ctx => $"hello {ctx.RouteValues["name"]}");
            int httpPort = http.Start("127.0.0.1", 0).Port;
            new RpcServer(tcp).Bind("add", (int a, int b) => a + b);
            int rpcPort = tcp.Start("127.0.0.1", 0).Port;

            await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.MessagePackObject() });
            // SendTraceContext: the server is Asio2.Rx too, so the request may carry the trace-context element.
            var rpc = new RpcClient(client, new RpcOptions { SendTraceContext = true });
            await client.Connect("127.0.0.1", rpcPort).Timeout(TimeSpan.FromSeconds(10));
            using var httpClient = new RxHttpClient();

            using (var root = s_app.StartActivity("sample work"))
            {
                Console.WriteLine($"http: {await httpClient.Get($"http://127.0.0.1:{httpPort}/hello/otel").Timeout(TimeSpan.FromSeconds(10))}");
                Console.WriteLine($"rpc: add(2, 3) = {await rpc.Call<int>("add", 2, 3).Timeout(TimeSpan.FromSeconds(10))}");
                Console.WriteLine($"trace {root?.TraceId}: spans and metrics follow");
            }
        } // the servers' stop ends every request's and session's span; disposing the providers prints the rest
    }
}
