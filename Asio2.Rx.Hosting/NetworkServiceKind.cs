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

/// <summary>The kinds for the transports' servers and clients.</summary>
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
        Abort = static server =>
        {
            foreach (var session in server.GetSessions()) session.Abort();
        },
    };

    /// <summary>A <see cref="NetworkClient"/> (TCP, UDP, KCP): connects in the background and keeps reconnecting per its options.</summary>
    public static NetworkServiceKind<TClient, TOptions> Client<TClient, TOptions>(Func<TOptions, TClient> create)
        where TClient : NetworkClient
        where TOptions : SessionOptions, new() => new()
    {
        Create = create,
        UseServices = UseSessionServices,
        // The host does not wait for the peer: a service may start before what it connects to. A client that gives
        // up (reconnecting off, or out of attempts) says so in the log; its Connections stream tells the app.
        Start = static (client, options, logger) => client.Connect(options.Host, options.Port).Subscribe(
            static _ => { },
            error => HostingLog.ConnectGaveUp(logger, options.Host, options.Port, error)),
        Stop = static client => client.DisconnectAsync(),
        Abort = static client => client.Session?.Abort(),
    };

    /// <summary>The logger and scheduler pool from the container, where the app left them unset (any <see cref="SessionOptions"/>).</summary>
    internal static void UseSessionServices(SessionOptions options, IServiceProvider services, ILogger logger)
    {
        options.Logger ??= logger;
        options.Schedulers ??= services.GetRequiredService<SchedulerPool>();
    }
}
