using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Asio2.Rx.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Asio2.Rx.Tests.Hosting;

public class HostedTcpServerTests
{
    /// <summary>A host without the default sources (no appsettings.json, no environment), with only <paramref name="settings"/>.</summary>
    internal static HostApplicationBuilder NewHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    [Fact]
    public async Task Host_WithTcpServerBoundFromConfiguration_ServesAClient()
    {
        var builder = NewHost(new()
        {
            ["Servers:Echo:Host"] = "127.0.0.1",
            ["Servers:Echo:Port"] = "0",
            ["Servers:Echo:MaxSessions"] = "7",
            ["Servers:Echo:DrainTimeout"] = "00:00:09",
            ["Servers:Echo:KeepAlive:Idle"] = "00:02:00",
        });
        builder.Services.AddLogging();
        builder.Services.AddTcpServer("echo")
            .BindConfiguration("Servers:Echo")
            .Configure(o => o.Settings.Framing = Framing.Delimiter('\n'))
            .OnStarting((server, _) => server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Text + "\n")));
        using var host = builder.Build();

        await host.StartAsync().WaitAsync(Wait.Long);
        var server = host.Services.GetRequiredKeyedService<TcpServer>("echo");
        var bound = server.LocalEndPoint!;
        Assert.Equal(IPAddress.Loopback, bound.Address);

        await using (var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n') }))
        {
            var reply = client.Frames.Select(f => f.Text).FirstAsync().ToTask();
            await client.Connect("127.0.0.1", bound.Port).Timeout(Wait.Long);
            await client.Send("hello\n");
            Assert.Equal("hello", await reply.WaitAsync(Wait.Long));
        }

        // The settings came from configuration, the logger and the scheduler pool from the container.
        var options = host.Services.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<TcpServerOptions>>>().Get("echo");
        Assert.Equal(7, options.Settings.MaxSessions);
        Assert.Equal(TimeSpan.FromSeconds(9), options.Settings.DrainTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Settings.KeepAlive!.Idle);
        Assert.Same(host.Services.GetRequiredService<SchedulerPool>(), options.Settings.Schedulers);
        Assert.NotNull(options.Settings.Logger);
        await host.StopAsync().WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task HostedServer_CountsOnTheContainersMeterFactory()
    {
        var builder = NewHost(new() { ["Echo:Host"] = "127.0.0.1" });
        builder.Services.AddTcpServer("echo")
            .BindConfiguration("Echo")
            .OnStarting((server, _) => server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)));
        using var host = builder.Build();
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        var opened = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new MeterListener();
        // Only the container's meter: meters an IMeterFactory creates carry it as their scope.
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == "Asio2.Rx" && ReferenceEquals(i.Meter.Scope, factory)) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, _, _, _) => { if (i.Name == "asio2rx.session.opened") opened.TrySetResult(i.Name); });
        listener.Start();

        await host.StartAsync().WaitAsync(Wait.Long);
        using var peer = await Wait.ConnectRaw(host.Services.GetRequiredKeyedService<TcpServer>("echo").LocalEndPoint!);

        Assert.Equal("asio2rx.session.opened", await opened.Task.WaitAsync(Wait.Long));
        var options = host.Services.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<TcpServerOptions>>>().Get("echo");
        Assert.Same(factory, options.Settings.MeterFactory);
        await host.StopAsync().WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task StopAsync_DrainsQueuedSendsAndCompletesEverySession()
    {
        const int Chunk = 64 * 1024, Chunks = 64; // 4 MiB per session: far more than the socket buffers hold
        var builder = NewHost(new()
        {
            ["Echo:Host"] = "127.0.0.1",
            ["Echo:MaxSendQueueBytes"] = (Chunk * Chunks * 2).ToString(),
            ["Echo:DrainTimeout"] = "00:05:00",
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
        var sessions = new List<Session>();
        var bothQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int queuedCount = 0;
        Task sessionsCompleted = Task.CompletedTask;
        builder.Services.AddTcpServer("bulk")
            .BindConfiguration("Echo")
            .Configure(o => o.Settings.Framing = Framing.Delimiter('\n'))
            .OnStarting((server, _) =>
            {
                sessionsCompleted = server.Sessions.LastOrDefaultAsync().ToTask();
                // On "go", queue 4 MiB; the peer does not read until the host stops.
                server.Sessions.Subscribe(s =>
                {
                    lock (sessions) sessions.Add(s);
                    s.Frames.Subscribe(_ =>
                    {
                        var payload = new byte[Chunk];
                        for (int i = 0; i < Chunks; i++) Assert.False(s.Send(payload).IsRejected);
                        if (Interlocked.Increment(ref queuedCount) == 2) bothQueued.SetResult();
                    });
                });
            });
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Wait.Long);
        var bound = host.Services.GetRequiredKeyedService<TcpServer>("bulk").LocalEndPoint!;

        using var a = await Wait.ConnectRaw(bound);
        using var b = await Wait.ConnectRaw(bound);
        await a.SendAsync("go\n"u8.ToArray());
        await b.SendAsync("go\n"u8.ToArray());
        await bothQueued.Task.WaitAsync(Wait.Long);

        var stopping = host.StopAsync();
        var received = await Task.WhenAll(ReadToEnd(a), ReadToEnd(b)).WaitAsync(Wait.Long);
        await stopping.WaitAsync(Wait.Long);

        Assert.All(received, n => Assert.Equal(Chunk * Chunks, n)); // every queued byte, then an orderly end of stream
        Assert.All(sessions, s => Assert.Equal(CloseKind.Stopped, s.CloseReason!.Kind));
        foreach (var s in sessions) await s.Frames.LastOrDefaultAsync().ToTask().WaitAsync(Wait.Long); // completed
        await sessionsCompleted.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task StopAsync_PastTheHostsShutdownTimeout_ClosesSessionsThatCannotDrain()
    {
        var builder = NewHost(new()
        {
            ["Echo:Host"] = "127.0.0.1",
            ["Echo:DrainTimeout"] = "01:00:00",
            ["Echo:MaxSendQueueBytes"] = (64 << 20).ToString(),
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200));
        var queued = new TaskCompletionSource<Session>();
        builder.Services.AddTcpServer("stuck")
            .BindConfiguration("Echo")
            .OnStarting((server, _) => server.Sessions.Subscribe(s =>
            {
                var payload = new byte[1024 * 1024];
                for (int i = 0; i < 48; i++) s.Send(payload); // more than loopback buffers take, and the peer never reads
                queued.SetResult(s);
            }));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Wait.Long);
        using var peer = await Wait.ConnectRaw(host.Services.GetRequiredKeyedService<TcpServer>("stuck").LocalEndPoint!);
        var session = await queued.Task.WaitAsync(Wait.Long);

        // Bounded by the host's shutdown timeout, not by the hour-long drain timeout.
        await host.StopAsync().WaitAsync(Wait.Long);

        Assert.Equal(CloseKind.Stopped, session.CloseReason!.Kind);
        await session.Frames.LastOrDefaultAsync().ToTask().WaitAsync(Wait.Long);
    }

    [Theory]
    [InlineData("MaxSessions", "0", "Servers:Echo:MaxSessions")]
    [InlineData("Port", "70000", "Servers:Echo:Port")]
    [InlineData("DrainTimeout", "soon", "Servers:Echo:DrainTimeout")]
    [InlineData("MaxSesions", "10", "Servers:Echo:MaxSesions")]
    [InlineData("KeepAlive:Idel", "00:00:10", "Servers:Echo:KeepAlive:Idel")]
    public async Task InvalidConfiguration_FailsTheStartNamingTheSetting(string key, string value, string path)
    {
        var builder = NewHost(new() { ["Servers:Echo:Host"] = "127.0.0.1", ["Servers:Echo:" + key] = value });
        builder.Services.AddTcpServer("echo").BindConfiguration("Servers:Echo");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Wait.Long));

        Assert.Contains(path, error.Message);
        Assert.Equal("echo", error.OptionsName);
    }

    [Fact]
    public async Task MissingConfigurationSection_FailsTheStartNamingTheSection()
    {
        var builder = NewHost(new());
        builder.Services.AddTcpServer("echo").BindConfiguration("Servers:Echo");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Wait.Long));

        Assert.Contains("Servers:Echo", error.Message);
    }

    [Fact]
    public void AddingTwoServersOfOneKindUnderOneName_Throws()
    {
        var services = new ServiceCollection();
        services.AddTcpServer("echo");
        var error = Assert.Throws<InvalidOperationException>(() => services.AddTcpServer("echo"));
        Assert.Contains("'echo'", error.Message);
    }

    private static async Task<long> ReadToEnd(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0) return total;
            total += n;
        }
    }
}
