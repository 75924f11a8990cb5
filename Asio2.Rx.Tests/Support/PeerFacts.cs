namespace Asio2.Rx.Tests;

/// <summary>
/// Finds the real peers the interop tests talk to: programs on PATH (socat, openssl, curl, wrk, chromium, node,
/// python3 with websockets, gcc) and npm packages installed into <c>Asio2.Rx.Tests/peers/node_modules</c> by
/// <c>test.sh</c>. A test whose peer is missing is skipped with the reason, except on CI (<c>CI=true</c>), where
/// <c>.ci/run</c> installs every peer and a missing one must fail rather than hide behind a skip.
/// </summary>
internal static class Peers
{
    private static readonly string[] s_path =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>True when the tests run on CI, where every peer must be present.</summary>
    public static bool OnCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The folder holding the npm peers' package.json (and node_modules once installed).</summary>
    public static string NodeFolder { get; } = FindNodeFolder();

    /// <summary>The full path of <paramref name="program"/> on PATH, or null.</summary>
    public static string? Which(string program)
    {
        if (Path.IsPathRooted(program)) return File.Exists(program) ? program : null;
        foreach (var dir in s_path)
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>True when the npm package is installed in <see cref="NodeFolder"/>.</summary>
    public static bool HasNodePackage(string package) =>
        File.Exists(Path.Combine(NodeFolder, "node_modules", package, "package.json"));

    /// <summary>Why the test cannot run here (each missing peer, and how to get it), or null when everything is present.</summary>
    public static string? Missing(string[] programs, string[] nodePackages)
    {
        var missing = programs.Where(p => Which(p) is null).ToList();
        missing.AddRange(nodePackages.Where(p => !HasNodePackage(p)).Select(p => "npm " + p));
        if (missing.Count == 0 || OnCi) return null;
        return $"Needs {string.Join(", ", missing)}: run ./test.sh, which installs the real peers (or .ci/run).";
    }

    private static string FindNodeFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "Asio2.Rx.Tests", "peers");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        return Path.Combine(AppContext.BaseDirectory, "peers");
    }
}

/// <summary>A test that talks to real programs (and npm packages); skipped with the reason when one is missing off CI.</summary>
/// <example><c>[PeerFact("socat")]</c>, <c>[PeerFact("node", Npm = ["ws"])]</c></example>
public sealed class PeerFactAttribute : FactAttribute
{
    private readonly string[] _programs;
    private string[] _npm = [];

    public PeerFactAttribute(params string[] programs)
    {
        _programs = programs;
        Skip = Peers.Missing(_programs, _npm);
    }

    /// <summary>npm packages (installed in Asio2.Rx.Tests/peers) the test needs besides the programs.</summary>
    public string[] Npm
    {
        get => _npm;
        set { _npm = value; Skip = Peers.Missing(_programs, value); }
    }
}

/// <summary>The <see cref="PeerFactAttribute"/> of theories.</summary>
public sealed class PeerTheoryAttribute : TheoryAttribute
{
    private readonly string[] _programs;
    private string[] _npm = [];

    public PeerTheoryAttribute(params string[] programs)
    {
        _programs = programs;
        Skip = Peers.Missing(_programs, _npm);
    }

    /// <summary>npm packages (installed in Asio2.Rx.Tests/peers) the test needs besides the programs.</summary>
    public string[] Npm
    {
        get => _npm;
        set { _npm = value; Skip = Peers.Missing(_programs, value); }
    }
}

/// <summary>A fact about <see cref="SocketLoop"/>, the pool's loop where the platform has epoll (Linux x64); skipped with
/// the reason elsewhere, where the pool uses Rx's EventLoopScheduler.</summary>
public sealed class SocketLoopFactAttribute : FactAttribute
{
    public SocketLoopFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            Skip = "SocketLoop needs Linux on x64; the pool uses EventLoopScheduler here";
    }
}
