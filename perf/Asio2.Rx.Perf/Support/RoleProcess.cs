using System.Diagnostics;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// A role of a benchmark (a server under test, a load generator) run as a child process of this same executable,
/// optionally pinned to one CPU with <c>taskset</c>, talking to the parent by lines: commands on its stdin, answers
/// on its stdout. The child exits when its stdin closes, so a parent that dies takes its children with it.
/// </summary>
internal sealed class RoleProcess : IAsyncDisposable
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly string _name;

    private RoleProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    /// <summary>The child's process id.</summary>
    public int Id => _process.Id;

    /// <summary>
    /// Starts <c>&lt;this executable&gt; &lt;benchmark&gt; --role ... args</c>, pinned to <paramref name="cpu"/> when it is not null
    /// (and taskset exists), with <paramref name="environment"/> applied (a null value removes the variable).
    /// </summary>
    /// <param name="executable">Another build of this executable to start instead (a before/after comparison in one run).</param>
    public static RoleProcess Start(string name, int? cpu, IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment, string? executable = null)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var self = executable is null ? SelfCommand() : [executable];
        if (cpu is { } c && CanPin)
        {
            // Each pinned role in a session of its own, hence a scheduling group of its own (Linux autogroup): on a
            // shared machine every role then gets a group's share of its core, however many threads it runs. In the
            // parent's group, a one-thread server got a third of what a many-thread one got beside the same neighbours.
            psi.FileName = CanSetSid ? "setsid" : "taskset";
            if (CanSetSid) psi.ArgumentList.Add("taskset");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(c.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var part in self) psi.ArgumentList.Add(part);
        }
        else
        {
            psi.FileName = self[0];
            foreach (var part in self.Skip(1)) psi.ArgumentList.Add(part);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (key, value) in environment)
        {
            if (value is null) psi.Environment.Remove(key);
            else psi.Environment[key] = value;
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) Console.Error.WriteLine($"[{name}] {e.Data}");
        };
        process.BeginErrorReadLine();
        return new RoleProcess(process, name);
    }

    /// <summary>
    /// The environment of a server child from the command line: <c>--inline-completions</c> sets
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> (else it is removed), <c>--server-env K=V[,K=V]</c> adds the rest.
    /// </summary>
    public static Dictionary<string, string?> ServerEnvironment(PerfArgs args)
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = args.Flag("inline-completions") ? "1" : null,
        };
        foreach (var kv in args.String("server-env", "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"--server-env wants KEY=VALUE, got '{kv}'");
            env[kv[..eq]] = kv[(eq + 1)..];
        }
        return env;
    }

    /// <summary>The environment's settings that are not defaults, for a header line.</summary>
    public static string Describe(Dictionary<string, string?> environment) =>
        string.Join(" ", environment.Where(e => e.Value is not null).Select(e => $"{e.Key}={e.Value}"));

    /// <summary>True when processes can be pinned: taskset is on the PATH and there are at least two CPUs.</summary>
    public static bool CanPin { get; } = Environment.ProcessorCount >= 2 && FindOnPath("taskset");

    private static bool CanSetSid { get; } = FindOnPath("setsid");

    /// <summary>Sends one command line.</summary>
    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>; other lines are echoed as progress.</summary>
    public async Task<string> ExpectAsync(string prefix)
    {
        using var timeout = new CancellationTokenSource(AnswerTimeout);
        while (true)
        {
            string? line;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{_name}: no '{prefix}' line within {AnswerTimeout.TotalSeconds:0} s");
            }
            if (line is null) throw new InvalidOperationException($"{_name} exited (code {TryExitCode()}) before saying '{prefix}'");
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
            Console.WriteLine($"[{_name}] {line}");
        }
    }

    private string TryExitCode()
    {
        try
        {
            return _process.WaitForExit(2000) ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
        }
        catch (InvalidOperationException)
        {
            return "unknown";
        }
    }

    /// <summary>Closes the child's stdin (its signal to exit), waits a little, then kills it if it is still there.</summary>
    public async ValueTask DisposeAsync()
    {
        try { _process.StandardInput.Close(); }
        catch (IOException) { }
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"[{_name}] did not exit; killing pid {_process.Id}");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process.Dispose();
    }

    /// <summary>How to start this executable again: the apphost, or <c>dotnet &lt;dll&gt;</c> when run through the muxer.</summary>
    private static string[] SelfCommand()
    {
        string path = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        if (Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return [path, typeof(RoleProcess).Assembly.Location];
        return [path];
    }

    private static bool FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)));
}

/// <summary>Commands from the parent, one per line on stdin.</summary>
internal static class ParentCommands
{
    /// <summary>
    /// The next line, or null when the parent closed stdin. Read on a thread of its own: <c>Console.In.ReadLineAsync</c>
    /// blocks the calling thread, and with inline socket completions that thread can be the one socket event loop, which
    /// would stall every connection of the process.
    /// </summary>
    public static Task<string?> ReadAsync() =>
        Task.Factory.StartNew(static () => Console.In.ReadLine(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
