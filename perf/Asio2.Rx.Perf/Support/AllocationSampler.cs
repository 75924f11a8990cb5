using System.Diagnostics.Tracing;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// Which types a process allocates, sampled in-process from the runtime's GC AllocationTick events (one event per
/// ~100 KB allocated, naming the type of the object that crossed the mark). Cheap enough to leave on for a window;
/// used by <c>--alloc-types</c> to say what the bytes per message are made of.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private readonly Dictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick is verbose
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) ?? true || e.Payload is null) return;
        int typeAt = e.PayloadNames!.IndexOf("TypeName");
        int amountAt = e.PayloadNames.IndexOf("AllocationAmount64");
        if (typeAt < 0) return;
        string type = e.Payload![typeAt] as string ?? "?";
        long amount = amountAt >= 0 ? Convert.ToInt64(e.Payload[amountAt], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        lock (_gate) _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
    }

    /// <summary>The sampled shares since the last call, largest first, as "type=percent" words; then starts over.</summary>
    public string TakeSummary(int top = 6)
    {
        lock (_gate)
        {
            long total = _bytes.Values.Sum();
            string summary = total == 0 ? "none" : string.Join(" ", _bytes.OrderByDescending(kv => kv.Value).Take(top)
                .Select(kv => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kv.Key.Replace(' ', '_')}={100.0 * kv.Value / total:F0}%")));
            _bytes.Clear();
            return summary;
        }
    }
}
