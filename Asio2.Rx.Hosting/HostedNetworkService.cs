using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Asio2.Rx.Hosting;

/// <summary>
/// Runs one named server or client with the host: resolves it (binding and checking its options, so a bad setting
/// fails the host's start), lets the app wire it up, starts it; on shutdown stops it gracefully, and closes what is
/// left at once when the host's shutdown timeout passes first.
/// </summary>
internal sealed class HostedNetworkService<TService, TOptions>(string name, NetworkServiceKind<TService, TOptions> kind, IServiceProvider services)
    : IHostedService
    where TService : class
    where TOptions : class, new()
{
    private readonly ILogger _logger = (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Asio2.Rx.Hosting");
    private TService? _service;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptionsMonitor<NetworkServiceOptions<TOptions>>>().Get(name);
        var service = services.GetRequiredKeyedService<TService>(name);
        foreach (var starting in services.GetKeyedServices<StartingCallback<TService>>(name)) starting.Invoke(service, services);
        kind.Start(service, options, _logger);
        _service = service;
        HostingLog.Started(_logger, name, options.Host, options.Port);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_service is not { } service) return;
        var stop = kind.Stop(service);
        try
        {
            await stop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostingLog.ShutdownTimeout(_logger, name);
            kind.Abort(service);
            await stop.ConfigureAwait(false); // aborted sessions finish without waiting on the network
        }
        HostingLog.Stopped(_logger, name);
    }
}

/// <summary>An app's <c>OnStarting</c> callback for the service registered under one name.</summary>
internal sealed record StartingCallback<TService>(Action<TService, IServiceProvider> Invoke);
