using System.Text.Json;

namespace Asio2.Rx.Tests;

/// <summary>
/// Finds the read-only <c>shared/</c> folder that sits beside the repository (<c>&lt;repo&gt;/../shared</c>)
/// by walking up from the test assembly, so the tests run wherever the repository is cloned.
/// </summary>
internal static class SharedFolder
{
    /// <summary>The full path of <paramref name="relativePath"/> inside <c>shared/</c>.</summary>
    /// <exception cref="DirectoryNotFoundException">No ancestor of the test assembly has it.</exception>
    public static string Locate(string relativePath)
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", relativePath);
            if (Directory.Exists(candidate) || File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException(
            $"shared/{relativePath} was not found beside any ancestor of {AppContext.BaseDirectory}; " +
            "clone the repository next to its shared/ folder.");
    }

    /// <summary>asio2's KCP handshake capture, <c>shared/asio2/vectors/kcp_handshake.json</c>, parsed once.</summary>
    public static JsonElement Asio2KcpCapture => LazyAsio2KcpCapture.Value;

    private static readonly Lazy<JsonElement> LazyAsio2KcpCapture = new(() =>
        JsonDocument.Parse(File.ReadAllText(Locate(Path.Combine("asio2", "vectors", "kcp_handshake.json")))).RootElement);
}
