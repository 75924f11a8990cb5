using System.Diagnostics;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>A peer program (node, python) started for one test: its stdout lines as they come; killed on dispose.</summary>
internal sealed class PeerProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Threading.Channels.Channel<string> _lines = System.Threading.Channels.Channel.CreateUnbounded<string>();

    public PeerProcess(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["NODE_PATH"] = Path.Combine(Peers.NodeFolder, "node_modules");
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Writer.TryWrite(e.Data); else _lines.Writer.TryComplete(); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Writer.TryWrite("stderr: " + e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>A script next to this file (in the test sources).</summary>
    public static string Script(string name) => Path.GetFullPath(Path.Combine(Peers.NodeFolder, "..", "WebSockets", name));

    /// <summary>The next stdout line (stderr lines are prefixed "stderr: ").</summary>
    public async Task<string> ReadLine() => await _lines.Reader.ReadAsync().AsTask().WaitAsync(Wait.Long);

    /// <summary>The next line starting with <paramref name="prefix"/>, skipping others.</summary>
    public async Task<string> ReadLineStartingWith(string prefix)
    {
        while (true)
        {
            var line = await ReadLine();
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
        }
    }

    public Task<int> WaitForExit() => _process.WaitForExitAsync().WaitAsync(Wait.Long).ContinueWith(_ => _process.ExitCode);

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
