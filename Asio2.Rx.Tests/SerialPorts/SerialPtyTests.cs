using System.Buffers;
using System.IO.Ports;
using System.Reactive.Linq;
using System.Text;
using MessagePack;

namespace Asio2.Rx.Tests.SerialPorts;

/// <summary>
/// Real serial ports: pseudo-terminal pairs made by socat (installed by .ci/run), opened through System.IO.Ports.
/// </summary>
public class SerialPtyTests
{
    private static SerialPortClient NewClient(string port, Framing framing, Action<SerialPortOptions>? configure = null)
    {
        var options = new SerialPortOptions
        {
            PortName = port,
            BaudRate = 115200,
            Framing = framing,
            // Fast reopening keeps the device-loss tests short; the back-off itself is tested in virtual time.
            Reopen = { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(200) },
        };
        configure?.Invoke(options);
        return new SerialPortClient(options);
    }

    /// <summary>One way to cut a stream: the framing, the payloads a receiver should see, and what to send for each.</summary>
    private sealed record FramingCase(Framing Framing, byte[][] Payloads, Func<byte[], byte[]> Wire);

    private static byte[] Bytes(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 13 + seed)).ToArray();

    private static FramingCase Case(string name) => name switch
    {
        "raw" => new(Framing.Raw, [Bytes(1, 1), Bytes(3000, 2), Bytes(256, 3)], p => p),
        "delimiter" => new(Framing.Delimiter('\n'), ["alpha"u8.ToArray(), [], "a longer line of text"u8.ToArray()], p => [.. p, (byte)'\n']),
        "delimiter-crlf" => new(Framing.Delimiter("\r\n"), ["AT"u8.ToArray(), "OK"u8.ToArray()], p => [.. p, (byte)'\r', (byte)'\n']),
        "fixed" => new(Framing.FixedSize(4), [Bytes(4, 1), Bytes(4, 2), Bytes(4, 3)], p => p),
        // asio2's use_dgram header in all three forms: 1 byte (< 254), 1+2 bytes, 1+8 bytes (> 65535).
        "datagram" => new(Framing.Datagram(), [Bytes(1, 1), Bytes(253, 2), Bytes(300, 3), Bytes(70_000, 4)], p => p),
        "lengthfield" => new(Framing.LengthField(2), [Bytes(10, 1), Bytes(0, 2), Bytes(5000, 3)], p => p),
        "msgpack" => new(Framing.MessagePackObject(),
            [MessagePackSerializer.Serialize(42), MessagePackSerializer.Serialize("hello"), MessagePackSerializer.Serialize(new[] { 1, 2, 3 })], p => p),
        // A custom matcher: one length byte, then the payload. The matcher frames; the sender writes the header.
        "custom" => new(Framing.Custom(LengthBytePrefixed), [Bytes(7, 1), Bytes(200, 2)], p => [(byte)p.Length, .. p]),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static FrameMatch LengthBytePrefixed(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 1) return FrameMatch.NeedMore;
        int length = buffer.FirstSpan[0];
        return buffer.Length < 1 + length ? FrameMatch.NeedMore : FrameMatch.Frame(1 + length, 1, length);
    }

    public static TheoryData<string> Framings => ["raw", "delimiter", "delimiter-crlf", "fixed", "datagram", "lengthfield", "msgpack", "custom"];

    /// <summary>Sends every payload of <paramref name="c"/> from one end and checks the other end's frames.</summary>
    private static async Task SendAndReceive(FramingCase c, SerialPortClient from, SerialPortClient to, string direction)
    {
        int total = c.Payloads.Sum(p => p.Length);
        Task<IList<byte[]>> frames = c.Framing == Framing.Raw
            // Raw frames are chunks as they arrive: compare the concatenation.
            ? to.Frames.Select(f => f.Data.ToArray()).Scan(new List<byte[]>(), (all, chunk) => { all.Add(chunk); return all; })
                .Where(all => all.Sum(a => a.Length) >= total).Select(all => (IList<byte[]>)all).First(direction)
            : to.Frames.Select(f => f.Data.ToArray()).Take(c.Payloads.Length).ToList().First(direction);
        foreach (var p in c.Payloads) _ = from.Send(c.Wire(p));
        var got = await frames;
        if (c.Framing == Framing.Raw) Assert.Equal(c.Payloads.SelectMany(p => p), got.SelectMany(g => g));
        else Assert.Equal(c.Payloads, got);
    }

    [PeerTheory("socat")]
    [MemberData(nameof(Framings))]
    public async Task EveryFraming_WorksInBothDirections(string framing)
    {
        var c = Case(framing);
        await using var pty = await SocatPair.CreateAsync();
        await using var a = NewClient(pty.A, c.Framing);
        await using var b = NewClient(pty.B, c.Framing);
        await a.Open().First("port A open");
        await b.Open().First("port B open");

        await SendAndReceive(c, a, b, $"{framing}: A to B");
        await SendAndReceive(c, b, a, $"{framing}: B to A");
    }

    [PeerFact("socat")]
    public async Task OneMebibyte_ArrivesIntact_BothWaysAtOnce()
    {
        const int size = 1024 * 1024;
        var fromA = Bytes(size, 5);
        var fromB = Bytes(size, 6);
        await using var pty = await SocatPair.CreateAsync();
        await using var a = NewClient(pty.A, Framing.Raw);
        await using var b = NewClient(pty.B, Framing.Raw);
        var atB = Collect(b, size, "1 MiB at B");
        var atA = Collect(a, size, "1 MiB at A");
        await a.Open().First("port A open");
        await b.Open().First("port B open");

        foreach (var chunk in fromA.Chunk(64 * 1024)) _ = a.Send(chunk);
        foreach (var chunk in fromB.Chunk(64 * 1024)) _ = b.Send(chunk);

        Assert.Equal(fromA, await atB);
        Assert.Equal(fromB, await atA);
    }

    private static Task<byte[]> Collect(SerialPortClient client, int size, string what) =>
        client.Frames.Select(f => f.Data.ToArray())
            .Scan(new List<byte>(size), (all, chunk) => { all.AddRange(chunk); return all; })
            .Where(all => all.Count >= size)
            .Select(all => all.ToArray())
            .First(what);

    [PeerFact("socat")]
    public async Task DeviceVanishingMidStream_ClosesWithDeviceLost_AndThePortReopensWhenItReturns()
    {
        await using var pty = await SocatPair.CreateAsync();
        await using var a = NewClient(pty.A, Framing.Delimiter('\n'));
        await using var b = NewClient(pty.B, Framing.Delimiter('\n'));
        var aReasons = a.Disconnects.Replay();
        var bReasons = b.Disconnects.Replay();
        var aSessions = a.Connections.Replay();
        var bSessions = b.Connections.Replay();
        var lines = b.Frames.Select(f => f.Text).Replay();
        using var subscriptions = new System.Reactive.Disposables.CompositeDisposable(
            aReasons.Connect(), bReasons.Connect(), aSessions.Connect(), bSessions.Connect(), lines.Connect());
        var first = await a.Open().First("port A open");
        await b.Open().First("port B open");

        // A streams lines; the device vanishes while they flow.
        var pump = Observable.Interval(TimeSpan.FromMilliseconds(2)).Subscribe(i => a.Send($"line {i}\n"));
        await lines.Skip(20).First("lines flowing from A to B");
        await pty.StopAsync();

        var lostA = await aReasons.First("A's close");
        var lostB = await bReasons.First("B's close");
        Assert.Equal(CloseKind.DeviceLost, lostA.Kind);
        Assert.Equal(CloseKind.DeviceLost, lostB.Kind);
        Assert.Equal(CloseKind.DeviceLost, first.CloseReason?.Kind);
        Assert.False(a.IsConnected);
        // While the device is absent, reopening fails and is retried.
        Assert.Equal(CloseKind.ConnectFailed, (await aReasons.Skip(1).First("a failed reopen while the device is absent")).Kind);
        pump.Dispose();

        // The device returns at the same path: both ends reopen by themselves, and bytes flow again.
        await pty.StartAsync();
        var second = await aSessions.Skip(1).First("A reopened");
        await bSessions.Skip(1).First("B reopened");
        Assert.NotEqual(first.Id, second.Id);
        Assert.True(second.IsOpen);
        var after = lines.Where(l => l == "after the return").First("a line after the return");
        await a.Send("after the return\n");
        await after;
    }

    [PeerFact("socat")]
    public async Task AbsentDevice_IsOpenedOnceItAppears()
    {
        await using var pty = await SocatPair.CreateAsync();
        await pty.StopAsync(); // the paths are known, the device is not there yet
        await using var a = NewClient(pty.A, Framing.Raw);
        var reasons = a.Disconnects.Replay();
        using var _ = reasons.Connect();
        var opened = a.Open().First("the port, once the device appears");

        Assert.Equal(CloseKind.ConnectFailed, (await reasons.First("a failed open")).Kind);
        await pty.StartAsync();
        var session = await opened;

        Assert.True(session.IsOpen);
        Assert.Equal(pty.A, session.RemoteEndPoint?.ToString());
    }

    [PeerFact("socat")]
    public async Task LineSettings_ReachThePort()
    {
        await using var pty = await SocatPair.CreateAsync();
        await using var a = NewClient(pty.A, Framing.Raw, o =>
        {
            o.BaudRate = 57600;
            o.DataBits = 7;
            o.Parity = Parity.Even;
            o.StopBits = StopBits.Two;
            o.Handshake = Handshake.XOnXOff;
        });

        var session = await a.Open().First("port A open");

        var port = Assert.IsType<SerialTransport>(((StreamSession)session).TransportLayer).Port!;
        Assert.Equal((57600, 7, Parity.Even, StopBits.Two, Handshake.XOnXOff), (port.BaudRate, port.DataBits, port.Parity, port.StopBits, port.Handshake));
        Assert.Equal("serial", session.Transport);
    }

    [PeerFact("socat")]
    public async Task Disconnect_ClosesThePort_WithLocalClose_AndDoesNotReopen()
    {
        await using var pty = await SocatPair.CreateAsync();
        var a = NewClient(pty.A, Framing.Raw);
        var reasons = a.Disconnects.Replay();
        using var _ = reasons.Connect();
        var session = await a.Open().First("port A open");

        await a.DisconnectAsync().WaitAsync(Wait.Long);

        Assert.Equal(CloseKind.LocalClose, (await session.Closed.First("the close")).Kind);
        Assert.Equal([CloseKind.LocalClose], (await reasons.ToList().First("every disconnect")).Select(r => r.Kind));
        Assert.False(((StreamSession)session).TransportLayer is SerialTransport { Port.IsOpen: true });
    }

    [PeerFact("socat")]
    public async Task RateLimits_ApplyToSerialSessions()
    {
        // Rate limiting lives in the session core: a serial session gets it without code of its own.
        var data = Bytes(20_000, 9);
        await using var pty = await SocatPair.CreateAsync();
        await using var a = NewClient(pty.A, Framing.Raw, o => o.WriteRateLimit = new RateLimit(100_000, 5_000));
        await using var b = NewClient(pty.B, Framing.Raw, o => o.ReadRateLimit = new RateLimit(100_000, 5_000));
        var atB = Collect(b, data.Length, "the limited bytes at B");
        await a.Open().First("port A open");
        await b.Open().First("port B open");

        await a.Send(data);

        Assert.Equal(data, await atB);
    }
}
