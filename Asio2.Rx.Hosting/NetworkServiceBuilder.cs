using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Asio2.Rx.Hosting;

/// <summary>
/// Configures one named server or client added with <c>AddTcpServer</c>, <c>AddUdpClient</c>, ...: where its settings
/// come from, and what the app does with it before it starts.
/// </summary>
/// <typeparam name="TService">The server or client type (<see cref="TcpServer"/>, <see cref="KcpClient"/>, ...).</typeparam>
/// <typeparam name="TOptions">Its options type.</typeparam>
public sealed class NetworkServiceBuilder<TService, TOptions>
    where TService : class
    where TOptions : class, new()
{
    internal NetworkServiceBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>The service collection it was added to.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The name it was added under: the key to resolve it with (<c>GetRequiredKeyedService&lt;TcpServer&gt;(name)</c>)
    /// and the name of its options.</summary>
    public string Name { get; }

    /// <summary>
    /// Binds the settings from the section at <paramref name="sectionPath"/> of the app's <see cref="IConfiguration"/>
    /// (for example "Servers:Echo" for <c>{ "Servers": { "Echo": { "Port": 7000, "MaxSessions": 1000 } } }</c>):
    /// <c>Host</c>, <c>Port</c>, and any property of <typeparamref name="TOptions"/>. A missing section, an unknown key
    /// or a refused value fails the host's start with the key's path in the message.
    /// </summary>
    public NetworkServiceBuilder<TService, TOptions> BindConfiguration(string sectionPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(sectionPath);
        string name = Name;
        Services.AddSingleton<IConfigureOptions<NetworkServiceOptions<TOptions>>>(sp =>
            new SectionConfigurer<TOptions>(name, sp.GetRequiredService<IConfiguration>().GetSection(sectionPath)));
        return this;
    }

    /// <summary>Changes the settings in code (a <see cref="Framing"/>, TLS certificates, ...). Runs in the order it
    /// was added relative to <see cref="BindConfiguration"/>.</summary>
    public NetworkServiceBuilder<TService, TOptions> Configure(Action<NetworkServiceOptions<TOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(Name, configure);
        return this;
    }

    /// <summary>
    /// Runs <paramref name="onStarting"/> when the host starts, after the service was created and before it listens or
    /// connects: subscribe to <c>Sessions</c> or <c>Connections</c> here to see every session from the first.
    /// </summary>
    public NetworkServiceBuilder<TService, TOptions> OnStarting(Action<TService, IServiceProvider> onStarting)
    {
        ArgumentNullException.ThrowIfNull(onStarting);
        Services.AddKeyedSingleton(Name, new StartingCallback<TService>(onStarting));
        return this;
    }
}
