using System.Diagnostics;
using System.Globalization;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// Linux <c>perf stat</c> attached to a process for a fixed time: counts of socket syscalls, futex calls, epoll waits and
/// context switches, which show how many messages each read and write carried and how often threads hopped.
/// Optional (<c>--perf-stat</c>); tracepoints cost a little per syscall, so figures taken with it are marked.
/// </summary>
internal sealed class PerfStat
{
    public static readonly string[] Events =
    [
        "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_recvmsg", "syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg",
        "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_futex", "context-switches", "task-clock",
    ];

    private readonly Process _process;

    private PerfStat(Process process) => _process = process;

    /// <summary>Starts counting the events of <paramref name="pid"/> for <paramref name="seconds"/>; null when perf is missing.</summary>
    public static PerfStat? Start(int pid, int seconds)
    {
        var psi = new ProcessStartInfo("perf") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "stat", "-x", ",", "-e", string.Join(",", Events), "-p", pid.ToString(CultureInfo.InvariantCulture), "--", "sleep", seconds.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        try
        {
            return new PerfStat(Process.Start(psi)!);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine("perf not found; --perf-stat ignored");
            return null;
        }
    }

    /// <summary>Event name to count (task-clock in ns), once perf has finished.</summary>
    public async Task<Dictionary<string, double>> ResultAsync()
    {
        string text = await _process.StandardError.ReadToEndAsync().ConfigureAwait(false);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        var counts = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            // value,unit,event,run-time,percentage,...
            var f = line.Split(',');
            if (f.Length < 3 || !double.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) continue;
            string name = f[2].Replace("syscalls:sys_enter_", "", StringComparison.Ordinal);
            if (name == "task-clock" && f[1] == "msec") v *= 1e6;
            counts[name] = v;
        }
        return counts;
    }
}
