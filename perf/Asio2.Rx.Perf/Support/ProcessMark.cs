using System.Diagnostics;
using System.Globalization;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// A snapshot of this process's cost counters: bytes allocated (all threads, precise), CPU time (user + system,
/// all threads), GC counts, and methods jitted (a window that still jits was not warmed up). Two marks around a counted window give its cost; a child reports marks as one line.
/// </summary>
internal readonly record struct ProcessMark(long AllocatedBytes, long CpuNs, int Gen0, int Gen1, int Gen2, long JitMethods, long JitNs, long TimestampNs)
{
    public static ProcessMark Take()
    {
        using var self = Process.GetCurrentProcess();
        return new ProcessMark(
            GC.GetTotalAllocatedBytes(precise: true),
            self.TotalProcessorTime.Ticks * 100,
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            System.Runtime.JitInfo.GetCompiledMethodCount(),
            System.Runtime.JitInfo.GetCompilationTime().Ticks * 100,
            (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency)));
    }

    public static ProcessMark operator -(ProcessMark a, ProcessMark b) => new(
        a.AllocatedBytes - b.AllocatedBytes, a.CpuNs - b.CpuNs, a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.JitMethods - b.JitMethods, a.JitNs - b.JitNs,
        a.TimestampNs - b.TimestampNs);

    /// <summary>CPU used over the mark's wall time, as a percentage of one core.</summary>
    public double CpuPercent => TimestampNs > 0 ? 100.0 * CpuNs / TimestampNs : 0;

    public string ToLine() => string.Create(CultureInfo.InvariantCulture,
        $"MARK alloc={AllocatedBytes} cpu_ns={CpuNs} gc0={Gen0} gc1={Gen1} gc2={Gen2} jit={JitMethods} jit_ns={JitNs} t_ns={TimestampNs}");

    public static ProcessMark Parse(string line)
    {
        var kv = KeyValues.Parse(line);
        return new ProcessMark(kv.Long("alloc"), kv.Long("cpu_ns"), (int)kv.Long("gc0"), (int)kv.Long("gc1"), (int)kv.Long("gc2"), kv.Long("jit"), kv.Long("jit_ns"), kv.Long("t_ns"));
    }
}

/// <summary>The <c>key=value</c> words of a line.</summary>
internal sealed class KeyValues
{
    private readonly Dictionary<string, string> _values;

    private KeyValues(Dictionary<string, string> values) => _values = values;

    public static KeyValues Parse(string line)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) values[word[..eq]] = word[(eq + 1)..];
        }
        return new KeyValues(values);
    }

    public string String(string key) => _values.TryGetValue(key, out var v) ? v : throw new FormatException($"no '{key}=' in the line");
    public long Long(string key) => long.Parse(String(key), CultureInfo.InvariantCulture);
    public double Double(string key) => double.Parse(String(key), CultureInfo.InvariantCulture);
}
