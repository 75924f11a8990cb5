using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace Asio2.Rx.Tests.Secure;

/// <summary>
/// An <c>openssl s_client</c> or <c>s_server</c> child process: stdin to write, stdout lines to await (each wait
/// bounded), stderr kept for failure messages. Disposing kills it.
/// </summary>
internal sealed partial class OpenSslProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly System.Text.StringBuilder _stderr = new();

    private OpenSslProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr) _stderr.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static OpenSslProcess Start(params string[] args)
    {
        var info = new ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("openssl did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("The 'openssl' command is needed for the interop tests (Debian package 'openssl').", e);
        }
        return new OpenSslProcess(process);
    }

    public string StandardError
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Writes a line to the process's stdin.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteAsync(line + "\n");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The next stdout line matching <paramref name="pattern"/> (others are skipped), or a TimeoutException.</summary>
    public async Task<string> ReadLineAsync(string what, Func<string, bool>? pattern = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Wait.Long);
        try
        {
            while (true)
            {
                var line = await _lines.Reader.ReadAsync(cts.Token);
                if (pattern is null || pattern(line)) return line;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"timed out waiting for {what} from openssl; stderr:\n{StandardError}");
        }
        catch (ChannelClosedException)
        {
            await _process.WaitForExitAsync().WaitAsync(Wait.Long);
            throw new InvalidOperationException($"openssl exited ({_process.ExitCode}) before {what}; stderr:\n{StandardError}");
        }
    }

    /// <summary>Waits for the process to exit; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().WaitAsync(Wait.Long);
        return _process.ExitCode;
    }

    /// <summary>Starts <c>openssl s_server</c> on 127.0.0.1 with a port it picks, and returns it with the port.</summary>
    public static async Task<(OpenSslProcess Server, int Port)> StartServerAsync(params string[] args)
    {
        var server = Start(["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", .. args]);
        try
        {
            // OpenSSL 3 prints the bound address: "ACCEPT 127.0.0.1:<port>".
            var line = await server.ReadLineAsync("the ACCEPT line", l => l.StartsWith("ACCEPT", StringComparison.Ordinal));
            return (server, int.Parse(AcceptPort().Match(line).Groups[1].Value));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    [GeneratedRegex(@":(\d+)\s*$")]
    private static partial Regex AcceptPort();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(Wait.Long);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}
