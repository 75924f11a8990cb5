using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx.Hosting;

/// <summary>
/// How the hosting layer drives one kind of server or client: create it from its options, start it, stop it
/// gracefully, abort what is left. Every <c>AddXxxServer</c>/<c>AddXxxClient</c> is one of these; a protocol server
/// (HTTP, RPC) adds its own in a few lines with <see cref="NetworkServiceKinds.Server{TServer, TOptions}"/> or by
/// filling the members itself.
/// </summary>
internal sealed class NetworkServiceKind<TService, TOptions>
    where TService : class
    where TOptions : class, new()
{
    /// <summary>Creates the server or client; called once, when it is first resolved.</summary>
    public required Func<TOptions, TService> Create { get; init; }

    /// <summary>Fills what the transport takes from the container (logger, scheduler pool) where the app left it unset.</summary>
    public required Action<TOptions, IServiceProvider, ILogger> UseServices { get; init; }

    /// <summary>Starts listening or connecting; must not wait on the network.</summary>
    public required Action<TService, NetworkServiceOptions<TOptions>, ILogger> Start { get; init; }

    /// <summary>Stops gracefully: queued sends drain, every session completes.</summary>
    public required Func<TService, Task> Stop { get; init; }

    /// <summary>Called when the host's shutdown timeout passes before <see cref="Stop"/> finished: closes what is left at once.</summary>
    public required Action<TService> Abort { get; init; }
}

/// <summary>The kinds for the transports' and protocols' servers and clients.</summary>
internal static class NetworkServiceKinds
{
    /// <summary>A <see cref="SessionServer"/> (TCP, UDP, KCP, and any protocol server built on one).</summary>
    public static NetworkServiceKind<TServer, TOptions> Server<TServer, TOptions>(Func<TOptions, TServer> create)
        where TServer : SessionServer
        where TOptions : SessionOptions, new() => new()
    {
        Create = create,
        UseServices = UseSessionServices,
        Start = static (server, options, _) => server.Start(options.Host, options.Port),
        Stop = static server => server.StopAsync(),
        Abort = static server => AbortAll(server.GetSessions()),
    };

    /// <summary>A <see cref="NetworkClient"/> (TCP, UDP, KCP): connects in the background and keeps reconnecting per its options.</summary>
    public static NetworkServiceKind<TClient, TOptions> Client<TClient, TOptions>(Func<TOptions, TClient> create)
        where TClient : NetworkClient
        where TOptions : SessionOptions, new() => new()
    {
        Create = create,
        UseServices = UseSessionServices,
        Start = static (client, options, logger) => Connect(client, options.Host, options.Port, logger),
        Stop = static client => client.DisconnectAsync(),
        Abort = static client => client.Session?.Abort(),
    };

    /// <summary>An <see cref="HttpServer"/>: its own graceful stop (requests in flight answered, within its
    /// <see cref="HttpServerOptions.ShutdownTimeout"/>), then the connections' drain.</summary>
    public static NetworkServiceKind<HttpServer, HttpServerOptions> Http() => new()
    {
        Create = static o => new HttpServer(o),
        UseServices = UseSessionServices,
        Start = static (server, options, _) => server.Start(options.Host, options.Port),
        Stop = static server => server.StopAsync(),
        Abort = static server => AbortAll(server.GetSessions()),
    };

    /// <summary>An <see cref="RpcServer"/> over its own <see cref="TcpServer"/> (TLS when the options say so).</summary>
    public static NetworkServiceKind<RpcServer, RpcServerOptions> RpcServer() => new()
    {
        Create = static o => new RpcServer(new TcpServer(o.WithWireFraming()), o.Rpc),
        UseServices = UseSessionServices,
        Start = static (rpc, options, _) => rpc.Server.Start(options.Host, options.Port),
        Stop = static rpc => rpc.Server.StopAsync(),
        Abort = static rpc => AbortAll(rpc.Server.GetSessions()),
    };

    /// <summary>An <see cref="RpcClient"/> over its own <see cref="TcpClient"/>, connecting as <see cref="Client{TClient, TOptions}"/> does.</summary>
    public static NetworkServiceKind<RpcClient, RpcClientOptions> RpcClient() => new()
    {
        Create = static o => new RpcClient(new TcpClient(o.WithWireFraming()), o.Rpc),
        UseServices = UseSessionServices,
        Start = static (rpc, options, logger) => Connect((TcpClient)rpc.Client, options.Host, options.Port, logger),
        Stop = static rpc => ((TcpClient)rpc.Client).DisconnectAsync(),
        Abort = static rpc => rpc.Client.Session?.Abort(),
    };

    // The host does not wait for the peer: a service may start before what it connects to. A client that gives up
    // (reconnecting off, or out of attempts) says so in the log; its Connections stream tells the app.
    private static void Connect(NetworkClient client, string host, int port, ILogger logger) =>
        client.Connect(host, port).Subscribe(static _ => { }, error => HostingLog.ConnectGaveUp(logger, host, port, error));

    private static void AbortAll(IReadOnlyList<Session> sessions)
    {
        foreach (var session in sessions) session.Abort();
    }

    /// <summary>The logger, scheduler pool and meter factory from the container, where the app left them unset (any
    /// <see cref="SessionOptions"/>).</summary>
    internal static void UseSessionServices(SessionOptions options, IServiceProvider services, ILogger logger)
    {
        options.Logger ??= logger;
        options.Schedulers ??= services.GetRequiredService<SchedulerPool>();
        options.MeterFactory ??= services.GetService<IMeterFactory>();
    }
}
