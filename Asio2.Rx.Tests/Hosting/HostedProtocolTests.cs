using System.Net.Http;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Asio2.Rx.Tests.Hosting;

/// <summary>The protocol servers as hosted services: HTTP and RPC (server and client), bound from configuration.</summary>
public class HostedProtocolTests
{
    [Fact]
    public async Task HttpServer_BoundFromConfiguration_AnswersTheRequestInFlightWhenTheHostStops()
    {
        var builder = HostedTcpServerTests.NewHost(new()
        {
            ["Servers:Web:Host"] = "127.0.0.1",
            ["Servers:Web:ServerHeader"] = "hosted",
            ["Servers:Web:ShutdownTimeout"] = "00:01:00",
            ["Servers:Web:Limits:MaxRequestHeaderCount"] = "20",
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.Services.AddHttpServer("web")
            .BindConfiguration("Servers:Web")
            .OnStarting((server, _) => server
                .Map("GET", "/hello/{name}", ctx => $"hello {ctx.RouteValues["name"]}")
                .Map("GET", "/slow", async ctx =>
                {
                    entered.SetResult();
                    await release.Task;
                    return "done";
                }));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Wait.Long);
        var server = host.Services.GetRequiredKeyedService<HttpServer>("web");
        string url = $"http://127.0.0.1:{server.LocalEndPoint!.Port}";
        using var client = new System.Net.Http.HttpClient();

        var hello = await client.GetAsync(url + "/hello/host").WaitAsync(Wait.Long);
        Assert.Equal("hello host", await hello.Content.ReadAsStringAsync());
        Assert.Equal("hosted", hello.Headers.Server.ToString());

        var slow = client.GetAsync(url + "/slow");
        await entered.Task.WaitAsync(Wait.Long);
        var stopping = host.StopAsync();
        Assert.False(stopping.IsCompleted); // waits for the request in flight
        release.SetResult();
        var answered = await slow.WaitAsync(Wait.Long);
        Assert.Equal("done", await answered.Content.ReadAsStringAsync());
        await stopping.WaitAsync(Wait.Long);
        Assert.Empty(server.GetSessions());

        var options = host.Services.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<HttpServerOptions>>>().Get("web");
        Assert.Equal(20, options.Settings.Limits.MaxRequestHeaderCount);
        Assert.Same(host.Services.GetRequiredService<SchedulerPool>(), options.Settings.Schedulers);
    }

    [Theory]
    [InlineData("Limits:MaxRequestHeaderCount", "0", "Servers:Web:Limits:MaxRequestHeaderCount")]
    [InlineData("ShutdownTimeout", "later", "Servers:Web:ShutdownTimeout")]
    [InlineData("Limits:MaxBody", "10", "Servers:Web:Limits:MaxBody")]
    public async Task HttpServer_InvalidConfiguration_FailsTheStartNamingTheSetting(string key, string value, string path)
    {
        var builder = HostedTcpServerTests.NewHost(new() { ["Servers:Web:Host"] = "127.0.0.1", ["Servers:Web:" + key] = value });
        builder.Services.AddHttpServer("web").BindConfiguration("Servers:Web");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Wait.Long));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public async Task RpcServerAndClient_InTheirOwnHosts_CallEachOther()
    {
        var serverBuilder = HostedTcpServerTests.NewHost(new() { ["Rpc:Host"] = "127.0.0.1", ["Rpc:Rpc:MaxConcurrentCalls"] = "8" });
        serverBuilder.Services.AddRpcServer("calc")
            .BindConfiguration("Rpc")
            .OnStarting((rpc, _) => rpc.Bind("add", (int a, int b) => a + b));
        using var serverHost = serverBuilder.Build();
        await serverHost.StartAsync().WaitAsync(Wait.Long);
        var rpcServer = serverHost.Services.GetRequiredKeyedService<RpcServer>("calc");
        int port = rpcServer.Server.LocalEndPoint!.Port;

        var clientBuilder = HostedTcpServerTests.NewHost(new()
        {
            ["Calc:Host"] = "127.0.0.1",
            ["Calc:Port"] = port.ToString(),
            ["Calc:Rpc:DefaultTimeout"] = "00:00:30",
            ["Calc:Rpc:SendTraceContext"] = "true",
        });
        Task<RpcPeer>? connected = null;
        clientBuilder.Services.AddRpcClient("calc")
            .BindConfiguration("Calc")
            .OnStarting((rpc, _) => connected = rpc.Peers.FirstAsync().ToTask());
        using var clientHost = clientBuilder.Build();
        await clientHost.StartAsync().WaitAsync(Wait.Long);
        var rpc = clientHost.Services.GetRequiredKeyedService<RpcClient>("calc");
        await connected!.WaitAsync(Wait.Long);

        Assert.Equal(5, await rpc.Call<int>("add", 2, 3).Timeout(Wait.Long));

        await clientHost.StopAsync().WaitAsync(Wait.Long);
        Assert.Null(rpc.Peer);
        await serverHost.StopAsync().WaitAsync(Wait.Long);
        Assert.Empty(rpcServer.Server.GetSessions());
        var options = serverHost.Services.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<RpcServerOptions>>>().Get("calc");
        Assert.Equal(8, options.Settings.Rpc.MaxConcurrentCalls);
    }

    [Fact]
    public async Task RpcServer_InvalidRpcSetting_FailsTheStartNamingTheSetting()
    {
        var builder = HostedTcpServerTests.NewHost(new() { ["Rpc:Host"] = "127.0.0.1", ["Rpc:Rpc:MaxConcurrentCalls"] = "0" });
        builder.Services.AddRpcServer("calc").BindConfiguration("Rpc");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Wait.Long));

        Assert.Contains("Rpc:Rpc:MaxConcurrentCalls", error.Message);
    }
}
