using Asio2.Rx;
using Asio2.Rx.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds Asio2.Rx servers and clients to a host as hosted services: each starts with the host and, on shutdown,
/// stops gracefully (queued sends drain, every session completes) within the host's shutdown timeout.
/// </summary>
/// <example>
/// <code>
/// builder.Services.AddTcpServer("echo")
///        .BindConfiguration("Servers:Echo")                               // Host, Port, MaxSessions, DrainTimeout, ...
///        .Configure(o => o.Settings.Framing = Framing.Delimiter('\n'))
///        .OnStarting((server, _) => server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)));
/// // elsewhere: services.GetRequiredKeyedService&lt;TcpServer&gt;("echo")
/// </code>
/// </example>
/// <remarks>
/// Each one is a keyed singleton under its name; its options are named options
/// (<c>IOptionsMonitor&lt;NetworkServiceOptions&lt;TcpServerOptions&gt;&gt;.Get(name)</c>). Unless the app set them,
/// the transport logs to the container's <see cref="ILoggerFactory"/>, counts on the <c>Asio2.Rx</c> meter of the
/// container's <see cref="System.Diagnostics.Metrics.IMeterFactory"/> (when it has one, as every Generic Host does),
/// and its sessions are pinned to the container's <see cref="SchedulerPool"/> (one, shared by all, disposed with the
/// container; register your own to replace it).
/// </remarks>
public static class Asio2RxServiceCollectionExtensions
{
    /// <summary>Adds a <see cref="TcpServer"/> (TLS when its options say so) named <paramref name="name"/>.</summary>
    public static NetworkServiceBuilder<TcpServer, TcpServerOptions> AddTcpServer(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Server<TcpServer, TcpServerOptions>(static o => new TcpServer(o)));

    /// <summary>Adds a <see cref="UdpServer"/> named <paramref name="name"/>.</summary>
    public static NetworkServiceBuilder<UdpServer, UdpServerOptions> AddUdpServer(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Server<UdpServer, UdpServerOptions>(static o => new UdpServer(o)));

    /// <summary>Adds a <see cref="KcpServer"/> named <paramref name="name"/>.</summary>
    public static NetworkServiceBuilder<KcpServer, KcpServerOptions> AddKcpServer(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Server<KcpServer, KcpServerOptions>(static o => new KcpServer(o)));

    /// <summary>Adds a <see cref="TcpClient"/> named <paramref name="name"/> that connects to <c>Host</c>:<c>Port</c> when
    /// the host starts (without delaying the start) and reconnects per its options.</summary>
    public static NetworkServiceBuilder<TcpClient, TcpClientOptions> AddTcpClient(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Client<TcpClient, TcpClientOptions>(static o => new TcpClient(o)));

    /// <summary>Adds a <see cref="UdpClient"/> named <paramref name="name"/>; see <see cref="AddTcpClient"/>.</summary>
    public static NetworkServiceBuilder<UdpClient, UdpClientOptions> AddUdpClient(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Client<UdpClient, UdpClientOptions>(static o => new UdpClient(o)));

    /// <summary>Adds a <see cref="KcpClient"/> named <paramref name="name"/>; see <see cref="AddTcpClient"/>.</summary>
    public static NetworkServiceBuilder<KcpClient, KcpClientOptions> AddKcpClient(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Client<KcpClient, KcpClientOptions>(static o => new KcpClient(o)));

    /// <summary>Adds an <see cref="HttpServer"/> (HTTPS when its options say so) named <paramref name="name"/>. On
    /// shutdown the requests in flight are answered (within <see cref="HttpServerOptions.ShutdownTimeout"/>), then
    /// the connections drain. Map routes in <c>OnStarting</c>; configuration binds <c>Limits:...</c> too.</summary>
    public static NetworkServiceBuilder<HttpServer, HttpServerOptions> AddHttpServer(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.Http());

    /// <summary>Adds an <see cref="RpcServer"/> over TCP (TLS when its options say so) named <paramref name="name"/>:
    /// bind its functions in <c>OnStarting</c>; configuration binds the RPC settings under <c>Rpc:...</c>.</summary>
    public static NetworkServiceBuilder<RpcServer, RpcServerOptions> AddRpcServer(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.RpcServer());

    /// <summary>Adds an <see cref="RpcClient"/> over TCP named <paramref name="name"/> that connects to
    /// <c>Host</c>:<c>Port</c> when the host starts; see <see cref="AddTcpClient"/>.</summary>
    public static NetworkServiceBuilder<RpcClient, RpcClientOptions> AddRpcClient(this IServiceCollection services, string name) =>
        services.AddNetworkService(name, NetworkServiceKinds.RpcClient());

    /// <summary>Registers one named service of any kind: its options, the keyed singleton, and its hosted service.</summary>
    internal static NetworkServiceBuilder<TService, TOptions> AddNetworkService<TService, TOptions>(
        this IServiceCollection services, string name, NetworkServiceKind<TService, TOptions> kind)
        where TService : class
        where TOptions : class, new()
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(TService) && Equals(d.ServiceKey, name)))
            throw new InvalidOperationException($"A {typeof(TService).Name} named '{name}' was already added.");

        services.AddOptions();
        services.TryAddSingleton(static _ => new SchedulerPool(Environment.ProcessorCount));
        services.AddSingleton<IPostConfigureOptions<NetworkServiceOptions<TOptions>>>(sp =>
            new PostConfigureOptions<NetworkServiceOptions<TOptions>>(name, o => kind.UseServices(o.Settings, sp, TransportLogger<TService>(sp))));
        services.AddKeyedSingleton<TService>(name, (sp, _) =>
            kind.Create(sp.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<TOptions>>>().Get(name).Settings));
        // Not AddHostedService: it adds one hosted service per implementation type, and there may be several names.
        services.AddSingleton<IHostedService>(sp => new HostedNetworkService<TService, TOptions>(name, kind, sp));
        return new NetworkServiceBuilder<TService, TOptions>(services, name);
    }

    private static ILogger TransportLogger<TService>(IServiceProvider services) =>
        (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger(typeof(TService).FullName!);
}
