namespace Asio2.Rx.Perf;

/// <summary>One benchmark; found by reflection. Each runs its baseline in the same run and ends with a
/// <c>RESULT &lt;name&gt; key=value ...</c> line.</summary>
internal interface IBenchmark
{
    /// <summary>The name given on the command line, e.g. "tcp-echo".</summary>
    string Name { get; }

    /// <summary>One line saying what it measures against what.</summary>
    string Description { get; }

    /// <summary>Runs the benchmark; returns the process exit code.</summary>
    Task<int> RunAsync(PerfArgs args);
}

/// <summary><c>--name value</c> pairs from the command line.</summary>
internal sealed class PerfArgs
{
    private readonly Dictionary<string, string> _values;

    private PerfArgs(Dictionary<string, string> values) => _values = values;

    public static PerfArgs Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected --option, got '{args[i]}'");
            string key = args[i][2..];
            values[key] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return new PerfArgs(values);
    }

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v) : fallback;
    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v) ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
    public string String(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;
    public bool Flag(string name) => _values.TryGetValue(name, out var v) && v != "false";
}
