using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Asio2.Rx.Hosting;

/// <summary>
/// Binds a flat configuration section onto options objects key by key, so that a refused value is reported with the
/// key's full path ("Servers:Echo:MaxSessions") instead of the setter's own parameter name ("value"), and an unknown
/// key (a typo) is an error instead of being ignored.
/// </summary>
/// <remarks>
/// Values are converted by <see cref="ConfigurationBinder"/> (numbers, booleans, enums, <see cref="TimeSpan"/>,
/// nullable values); a sub-section binds onto the object the property holds (created when it is null).
/// </remarks>
internal static class SectionBinder
{
    /// <summary>Binds every key of <paramref name="section"/> onto the first target that has a property of that
    /// name (case-insensitive). Returns one message per key that failed; empty when everything bound.</summary>
    public static List<string> Bind(IConfigurationSection section, params object[] targets)
    {
        var failures = new List<string>();
        foreach (var child in section.GetChildren()) BindKey(child, targets, failures);
        return failures;
    }

    private static void BindKey(IConfigurationSection key, object[] targets, List<string> failures)
    {
        foreach (var target in targets)
        {
            var property = target.GetType().GetProperty(key.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null) continue;
            try
            {
                if (key.Value is null)
                {
                    // A sub-section (KeepAlive:Idle): bind onto the object the property holds.
                    object nested = property.GetValue(target) ?? Create(property);
                    foreach (var child in key.GetChildren()) BindKey(child, [nested], failures);
                    if (property.CanWrite) property.SetValue(target, nested);
                }
                else if (!property.CanWrite)
                {
                    failures.Add($"{key.Path}: the setting cannot be set from configuration.");
                }
                else
                {
                    property.SetValue(target, key.Get(property.PropertyType));
                }
            }
            catch (Exception ex) when (ex is TargetInvocationException or InvalidOperationException or ArgumentException or FormatException)
            {
                var cause = ex is TargetInvocationException { InnerException: { } inner } ? inner : ex;
                failures.Add($"{key.Path}: '{key.Value}' is not valid ({FirstLine(cause.Message)}).");
            }
            return;
        }
        failures.Add($"{key.Path}: no such setting (known: {string.Join(", ", targets.SelectMany(Names).Distinct())}).");
    }

    private static object Create(PropertyInfo property) =>
        Activator.CreateInstance(Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType)
        ?? throw new InvalidOperationException($"cannot create a {property.PropertyType.Name}");

    private static IEnumerable<string> Names(object target) =>
        target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.Name);

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
