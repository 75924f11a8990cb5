using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Asio2.Rx.Tests.SerialPorts;

/// <summary>
/// A connected pair of pseudo-terminals made by socat, reachable at the fixed link paths <see cref="A"/> and
/// <see cref="B"/> in a private temp folder. <see cref="StopAsync"/> makes the "device" vanish (socat exits and
/// removes the links); <see cref="StartAsync"/> brings it back at the same paths.
/// </summary>
/// <remarks>
/// A pty ignores the baud rate and has no modem lines; bytes pass through unchanged in raw mode. The links appear
/// a moment after socat starts, so starting waits (bounded) until the file system reports both.
/// </remarks>
internal sealed class SocatPair : IAsyncDisposable
{
    private const int SigTerm = 15;
    private readonly DirectoryInfo _folder;
    private Process? _socat;

    private SocatPair(DirectoryInfo folder)
    {
        _folder = folder;
        A = Path.Combine(folder.FullName, "A");
        B = Path.Combine(folder.FullName, "B");
    }

    /// <summary>One end of the pair.</summary>
    public string A { get; }

    /// <summary>The other end.</summary>
    public string B { get; }

    /// <summary>Starts socat and returns once both links exist.</summary>
    public static async Task<SocatPair> CreateAsync()
    {
        var pair = new SocatPair(Directory.CreateTempSubdirectory("asio2rx-pty-"));
        try
        {
            await pair.StartAsync();
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    /// <summary>(Re)starts socat with the same link paths and waits until both links exist.</summary>
    public async Task StartAsync()
    {
        if (_socat is { HasExited: false }) throw new InvalidOperationException("socat is already running");
        using var watcher = new FileSystemWatcher(_folder.FullName);
        var linked = BothLinksExist(watcher);
        var info = new ProcessStartInfo("socat", $"pty,raw,echo=0,link={A} pty,raw,echo=0,link={B}")
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            _socat = Process.Start(info) ?? throw new InvalidOperationException("socat did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("socat is not installed (apt-get install socat; .ci/run installs it)", e);
        }
        _socat.ErrorDataReceived += (_, _) => { }; // drain, so socat never blocks on a full pipe
        _socat.BeginErrorReadLine();
        var socat = _socat;
        await Task.WhenAny(linked, socat.WaitForExitAsync()).WaitAsync(Wait.Long);
        if (socat.HasExited) throw new InvalidOperationException($"socat exited with {socat.ExitCode}");
    }

    /// <summary>Completes when both links exist: told by inotify as socat creates them (checked once more after the
    /// watch started, for links made before it).</summary>
    private Task BothLinksExist(FileSystemWatcher watcher)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (File.Exists(A) && File.Exists(B)) done.TrySetResult();
        }
        watcher.Created += (_, _) => Check();
        watcher.Renamed += (_, _) => Check();
        watcher.EnableRaisingEvents = true;
        Check();
        return done.Task;
    }

    /// <summary>Makes the device vanish: socat gets SIGTERM, closes both ptys and removes the links.</summary>
    public async Task StopAsync()
    {
        if (_socat is not { } socat) return;
        _socat = null;
        if (!socat.HasExited)
        {
            kill(socat.Id, SigTerm);
            await socat.WaitForExitAsync().WaitAsync(Wait.Long);
        }
        socat.Dispose();
        // socat removes its links on SIGTERM; make sure no stale link can point at a pty someone else gets next.
        File.Delete(A);
        File.Delete(B);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            try { _folder.Delete(recursive: true); }
            catch (IOException) { }
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
