using System.IO.Ports;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.SerialPorts;

/// <summary>The client's open/reopen logic and the device-lost classification, in virtual time over fake devices.</summary>
public class SerialPortClientTests
{
    private static readonly long S = TimeSpan.TicksPerSecond;

    /// <summary>A client whose opens are answered by <paramref name="open"/> (a device, or an exception for "absent").</summary>
    private static (SerialPortClient Client, TestScheduler Scheduler, List<long> Opens) NewClient(Func<int, FakeDevice> open, Action<SerialPortOptions>? configure = null)
    {
        var scheduler = new TestScheduler();
        var options = new SerialPortOptions
        {
            PortName = "/dev/ttyFAKE0",
            Framing = Framing.Delimiter('\n'),
            Schedulers = new SchedulerPool(scheduler),
            Reopen = { InitialDelay = TimeSpan.FromSeconds(1), Multiplier = 2, MaxDelay = TimeSpan.FromSeconds(4) },
        };
        configure?.Invoke(options);
        var client = new SerialPortClient(options);
        var opens = new List<long>();
        client.Opener = _ =>
        {
            opens.Add(scheduler.Clock);
            return new ValueTask<Transport>(new SerialTransport(open(opens.Count), "/dev/ttyFAKE0"));
        };
        return (client, scheduler, opens);
    }

    [Fact]
    public void Frames_AndSends_GoThroughTheDevice()
    {
        var device = new FakeDevice();
        var (client, scheduler, _) = NewClient(_ => device);
        var frames = new List<string>();
        client.Frames.Select(f => f.Text).Subscribe(frames.Add);
        client.Open().Subscribe();
        scheduler.AdvanceBy(2); // the open runs at tick 1; the session is announced and started a tick later

        device.Receive("hello\nwor"u8);
        scheduler.AdvanceBy(1); // the read loop runs on the session's scheduler: it delivers and reads again a tick later
        device.Receive("ld\n"u8);
        client.Send("out\n");
        scheduler.AdvanceBy(1);

        Assert.Equal(["hello", "world"], frames);
        Assert.Equal("out\n"u8.ToArray(), device.Written);
        Assert.Equal("serial", client.Session!.Transport);
        Assert.Equal("/dev/ttyFAKE0", client.Session.RemoteEndPoint?.ToString());
    }

    [Theory]
    [InlineData("disposed")] // what System.IO.Ports raises on Linux when the pty's far end or the USB adapter goes
    [InlineData("io")]       // EIO from read(2)
    [InlineData("eof")]      // a read of nothing
    public void DeviceErrors_CloseTheSessionWithDeviceLost(string how)
    {
        var device = new FakeDevice();
        var (client, scheduler, _) = NewClient(_ => device, o => o.Reopen.Enabled = false);
        var reasons = new List<CloseReason>();
        client.Disconnects.Subscribe(reasons.Add);
        client.Open().Subscribe();
        scheduler.AdvanceBy(2);

        switch (how)
        {
            case "disposed": device.Fail(new ObjectDisposedException(null, "The port is closed.")); break;
            case "io": device.Fail(new IOException("Input/output error")); break;
            default: device.EndOfStream(); break;
        }
        scheduler.AdvanceBy(2);

        var reason = Assert.Single(reasons);
        Assert.Equal(CloseKind.DeviceLost, reason.Kind);
        Assert.Contains("/dev/ttyFAKE0", reason.Message);
        Assert.True(device.IsDisposed, "the port was closed, which fails its queued writes");
    }

    [Fact]
    public void DeviceLost_ReopensWithBackOff_UntilTheDeviceReturns()
    {
        // Open 1 succeeds; after the device is lost, opens 2 and 3 fail (absent), open 4 finds it back.
        var devices = new List<FakeDevice>();
        var (client, scheduler, opens) = NewClient(n => n is 2 or 3
            ? throw new UnauthorizedAccessException("Access to the port '/dev/ttyFAKE0' is denied.") // .NET's error for a missing tty
            : Add(devices, new FakeDevice()));
        var kinds = new List<(long Tick, CloseKind Kind)>();
        client.Disconnects.Subscribe(r => kinds.Add((scheduler.Clock, r.Kind)));
        var sessions = new List<Session>();
        client.Connections.Subscribe(sessions.Add);
        client.Open().Subscribe();
        scheduler.AdvanceTo(10);

        devices[0].Fail(new ObjectDisposedException(null, "The port is closed."));
        long lostAt = scheduler.Clock;
        scheduler.AdvanceTo(20 * S);

        Assert.Equal([CloseKind.DeviceLost, CloseKind.ConnectFailed, CloseKind.ConnectFailed], kinds.Select(k => k.Kind));
        Assert.Equal(2, sessions.Count);
        Assert.Equal(CloseKind.DeviceLost, sessions[0].CloseReason?.Kind);
        Assert.True(sessions[1].IsOpen);
        // The session finishes a tick after the loss; the first reopen comes 1 s later, then 1 s and 2 s after each
        // failure (+1 tick each: a failure is reported on the scheduler).
        long finished = lostAt + 1;
        Assert.Equal([finished + 1 * S, finished + 2 * S + 1, finished + 4 * S + 2], opens.Skip(1));
    }

    [Fact]
    public async Task Disconnect_ClosesThePortLocally_AndDoesNotReopen()
    {
        var device = new FakeDevice();
        var (client, scheduler, opens) = NewClient(_ => device);
        var kinds = new List<CloseKind>();
        client.Disconnects.Subscribe(r => kinds.Add(r.Kind));
        client.Open().Subscribe();
        scheduler.AdvanceBy(2);

        var stopped = client.DisconnectAsync();
        scheduler.AdvanceTo(60 * S);
        await stopped.WaitAsync(Wait.Long);

        Assert.Equal([CloseKind.LocalClose], kinds);
        Assert.Single(opens);
        Assert.True(device.IsDisposed);
    }

    [Fact]
    public async Task MissingPort_FailsToOpenWithConnectFailed()
    {
        // A real open of a path that does not exist: .NET reports it as UnauthorizedAccessException (or IOException).
        await using var client = new SerialPortClient(new SerialPortOptions
        {
            PortName = Path.Combine(Path.GetTempPath(), "asio2rx-no-such-tty"),
            Reopen = { MaxAttempts = 1 },
        });
        var failures = client.Disconnects.Replay();
        using var _ = failures.Connect();

        var error = await Assert.ThrowsAsync<ConnectException>(() => client.Open().First("the first open"));

        Assert.Equal(CloseKind.ConnectFailed, error.Reason.Kind);
        Assert.Equal(CloseKind.ConnectFailed, (await failures.First("the failed attempt")).Kind);
    }

    [Fact]
    public void Options_DefaultTo9600_8N1_NoHandshake_AndRejectIllegalLineSettings()
    {
        var o = new SerialPortOptions();
        Assert.Equal((9600, 8, Parity.None, StopBits.One, Handshake.None), (o.BaudRate, o.DataBits, o.Parity, o.StopBits, o.Handshake));
        Assert.True(o.Reopen.Enabled);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.BaudRate = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.DataBits = 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.DataBits = 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.StopBits = StopBits.None);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.Parity = (Parity)42);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.Handshake = (Handshake)42);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.OpenTimeout = TimeSpan.Zero);
        Assert.Throws<ArgumentException>(() => new SerialPortClient(new SerialPortOptions()));
    }

    [Fact]
    public void Open_Twice_Throws()
    {
        var (client, _, _) = NewClient(_ => new FakeDevice());
        client.Open();
        Assert.Throws<InvalidOperationException>(() => client.Open());
    }

    private static FakeDevice Add(List<FakeDevice> list, FakeDevice device)
    {
        list.Add(device);
        return device;
    }
}
