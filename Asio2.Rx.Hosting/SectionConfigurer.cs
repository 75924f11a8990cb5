using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Asio2.Rx.Hosting;

/// <summary>Binds the named options from a configuration section; any key that does not bind fails with its path.</summary>
internal sealed class SectionConfigurer<TOptions>(string name, IConfigurationSection section) : IConfigureNamedOptions<NetworkServiceOptions<TOptions>>
    where TOptions : class, new()
{
    public void Configure(string? optionsName, NetworkServiceOptions<TOptions> options)
    {
        if (optionsName != name) return;
        List<string> failures = section.Exists()
            ? SectionBinder.Bind(section, options, options.Settings)
            : [$"{section.Path}: the configuration section is missing or empty."];
        if (failures.Count > 0) throw new OptionsValidationException(name, typeof(NetworkServiceOptions<TOptions>), failures);
    }

    public void Configure(NetworkServiceOptions<TOptions> options) => Configure(Options.DefaultName, options);
}
