using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Runtime.InteropServices;

namespace Asio2.Rx.Samples;

/// <summary>asio2's serial_port: a line-echo "device" and a host, over a socat pseudo-terminal pair; then the device is
/// unplugged and plugged back, and the host's port reopens by itself.</summary>
internal sealed class SerialSample : ISample
{
    public string Name => "serial";
    public string Description => "serial echo over a socat pty pair; the device vanishes and the port reopens (needs socat)";
    public int Order => 60;

    public async Task RunAsync(string[] args)
    {
        var folder = Directory.CreateTempSubdirectory("asio2rx-serial-");
        string hostPath = Path.Combine(folder.FullName, "host"), devicePath = Path.Combine(folder.FullName, "device");
        using var cable = new Cable(hostPath, devicePath);
        try
        {
            if (!await cable.PlugAsync())
            {
                Console.WriteLine("serial: skipped, socat is not installed (apt-get install socat)");
                return;
            }
            var options = (string port) => new SerialPortOptions
            {
                PortName = port,
                BaudRate = 115200,
                Framing = Framing.Delimiter('\n'),
                Reopen = { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(400) },
            };

            // The device: echoes every line it gets.
            await using var device = new SerialPortClient(options(devicePath));
            device.Frames.Subscribe(f => f.Session.Send($"echo: {f.Text}\n"));

            // The host: prints what comes back, and every close or failed open with its reason.
            await using var host = new SerialPortClient(options(hostPath));
            host.Frames.Subscribe(f => Console.WriteLine($"host: got '{f.Text}'"));
            host.Disconnects.Subscribe(r => Console.WriteLine($"host: port closed ({r.Kind})"));
            host.Connections.Subscribe(s => Console.WriteLine($"host: port {s.RemoteEndPoint} open (session {s.Id})"));
            // Both ends reopen by themselves once the device is back; the tasks finish when they have.
            var hostReopened = host.Connections.Skip(1).FirstAsync().Timeout(TimeSpan.FromSeconds(10)).ToTask();
            var deviceReopened = device.Connections.Skip(1).FirstAsync().Timeout(TimeSpan.FromSeconds(10)).ToTask();

            await device.Open().Timeout(TimeSpan.FromSeconds(5));
            await host.Open().Timeout(TimeSpan.FromSeconds(5));
            var echoes = host.Frames.Take(2).ToList().Timeout(TimeSpan.FromSeconds(5)).ToTask();
            await host.Send("hello\n");
            await host.Send("asio2\n");
            await echoes;

            Console.WriteLine("serial: unplugging the device");
            var lost = host.Disconnects.FirstAsync().Timeout(TimeSpan.FromSeconds(5)).ToTask();
            await cable.UnplugAsync();
            await lost;
            Console.WriteLine("serial: plugging it back in");
            await cable.PlugAsync();
            await Task.WhenAll(hostReopened, deviceReopened);
            var again = host.Frames.FirstAsync().Timeout(TimeSpan.FromSeconds(5)).ToTask();
            await host.Send("back again\n");
            await again;
        }
        finally
        {
            await cable.UnplugAsync();
            folder.Delete(recursive: true);
        }
    }

    /// <summary>socat's pseudo-terminal pair as a cable between two link paths: plug (start socat, wait for the
    /// links) and unplug (SIGTERM: socat closes both ends and removes the links, as a device vanishing).</summary>
    private sealed class Cable(string a, string b) : IDisposable
    {
        private Process? _socat;

        public async Task<bool> PlugAsync()
        {
            try
            {
                _socat = Process.Start(new ProcessStartInfo("socat", $"pty,raw,echo=0,link={a} pty,raw,echo=0,link={b}") { UseShellExecute = false });
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return false;
            }
            await Observable.Interval(TimeSpan.FromMilliseconds(10))
                .Where(_ => File.Exists(a) && File.Exists(b))
                .FirstAsync()
                .Timeout(TimeSpan.FromSeconds(5));
            return true;
        }

        public async Task UnplugAsync()
        {
            if (_socat is not { } socat) return;
            _socat = null;
            if (!socat.HasExited) kill(socat.Id, 15);
            await socat.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
            socat.Dispose();
        }

        public void Dispose() => UnplugAsync().GetAwaiter().GetResult();

        [DllImport("libc", SetLastError = true)]
        private static extern int kill(int pid, int signal);
    }
}
