using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Asio2.Rx.Tests.Hosting;

/// <summary>Every transport's hosted server and hosted client, each in its own host, talking over loopback.</summary>
public class HostedClientTests
{
    [Fact]
    public Task Tcp_HostedClientConnectsOnStartAndEchoesThroughAHostedServer() =>
        EchoBetweenHosts((s, n) => s.AddTcpServer(n), (s, n) => s.AddTcpClient(n));

    [Fact]
    public Task Udp_HostedClientConnectsOnStartAndEchoesThroughAHostedServer() =>
        EchoBetweenHosts((s, n) => s.AddUdpServer(n), (s, n) => s.AddUdpClient(n));

    [Fact]
    public Task Kcp_HostedClientConnectsOnStartAndEchoesThroughAHostedServer() =>
        EchoBetweenHosts((s, n) => s.AddKcpServer(n), (s, n) => s.AddKcpClient(n));

    private static async Task EchoBetweenHosts<TServer, TServerOptions, TClient, TClientOptions>(
        Func<IServiceCollection, string, NetworkServiceBuilder<TServer, TServerOptions>> addServer,
        Func<IServiceCollection, string, NetworkServiceBuilder<TClient, TClientOptions>> addClient)
        where TServer : SessionServer
        where TServerOptions : class, new()
        where TClient : NetworkClient
        where TClientOptions : class, new()
    {
        var serverBuilder = HostedTcpServerTests.NewHost(new() { ["Server:Host"] = "127.0.0.1" });
        addServer(serverBuilder.Services, "echo")
            .BindConfiguration("Server")
            .OnStarting((server, _) => server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)));
        using var serverHost = serverBuilder.Build();
        await serverHost.StartAsync().WaitAsync(Wait.Long);
        int port = serverHost.Services.GetRequiredKeyedService<TServer>("echo").LocalEndPoint!.Port;

        var clientBuilder = HostedTcpServerTests.NewHost(new() { ["Upstream:Host"] = "127.0.0.1", ["Upstream:Port"] = port.ToString() });
        Task<string>? echo = null;
        addClient(clientBuilder.Services, "upstream")
            .BindConfiguration("Upstream")
            .OnStarting((client, _) =>
            {
                echo = client.Frames.Select(f => f.Text).FirstAsync().ToTask();
                client.Connections.Subscribe(s => s.Send("ping"));
            });
        using var clientHost = clientBuilder.Build();
        await clientHost.StartAsync().WaitAsync(Wait.Long);

        Assert.Equal("ping", await echo!.WaitAsync(Wait.Long));
        var client = clientHost.Services.GetRequiredKeyedService<TClient>("upstream");
        var disconnected = client.Disconnects.FirstAsync().ToTask();

        await clientHost.StopAsync().WaitAsync(Wait.Long);
        Assert.Equal(CloseKind.LocalClose, (await disconnected.WaitAsync(Wait.Long)).Kind); // stopping the host disconnected it
        await serverHost.StopAsync().WaitAsync(Wait.Long);
    }
}
