using System.Diagnostics;
using System.Globalization;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// The library's per-frame cost without the kernel: a <see cref="StreamSession"/> over a transport whose every read returns
/// the same <c>--frames</c> datagram frames and whose writes complete at once, echoed with one <c>Send</c> per frame.
/// The baseline does the least an echo must do with the same reads: copy the read, walk the headers, copy each frame
/// into a send buffer. Single process, no sockets, so the figures are steadier than tcp-echo's and show where the
/// library's own time goes (scheduler hop, Rx plumbing, send queue).
/// </summary>
/// <remarks>Options: --frames 250 (per read), --size 32, --seconds 5 (per point), --warmup 3, --pairs 3,
/// --scheduler immediate|default|lean (lean: a minimal event loop, see LeanEventLoop), --subscribe per-session|selectmany, --handler echo|count (count: receive path only, no Send).</remarks>
internal sealed class SessionPath : IBenchmark
{
    public string Name => "session-path";

    public string Description => "per-frame cost of StreamSession receive -> Frames -> Send -> coalesced write, no kernel; vs hand-rolled parse+copy";

    public async Task<int> RunAsync(PerfArgs args)
    {
        int frames = args.Int("frames", 250);
        int size = args.Int("size", 32);
        int seconds = args.Int("seconds", 5);
        int pairs = args.Int("pairs", 3);
        string scheduler = args.String("scheduler", "immediate");
        string subscribe = args.String("subscribe", "per-session");
        string handler = args.String("handler", "echo");
        byte[] read = BuildRead(frames, size);
        Console.WriteLine($"session-path: reads of {frames} x {size} B frames ({read.Length} B), scheduler={scheduler} subscribe={subscribe} handler={handler}, " +
                          $"{seconds} s per point, {pairs} pairs; .NET {Environment.Version}, commit {MachineInfo.GitCommit()}");

        // Warm-up: both paths until tier-1 code settles.
        double warm = args.Int("warmup", 3);
        Hand(read, size, TimeSpan.FromSeconds(warm / 3));
        await Library(read, frames, scheduler, subscribe, handler, TimeSpan.FromSeconds(2 * warm / 3)).ConfigureAwait(false);

        var ratios = new List<double>();
        var lib = new List<double>();
        var hand = new List<double>();
        for (int p = 1; p <= pairs; p++)
        {
            var a = Hand(read, size, TimeSpan.FromSeconds(seconds));
            var b = await Library(read, frames, scheduler, subscribe, handler, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
            hand.Add(a.CpuNsPerFrame);
            lib.Add(b.CpuNsPerFrame);
            ratios.Add(b.CpuNsPerFrame / a.CpuNsPerFrame);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  pair {p} hand-rolled {a.CpuNsPerFrame,6:F1} ns/frame {a.AllocPerFrame,5:F1} B/frame | library {b.CpuNsPerFrame,6:F1} ns/frame " +
                $"{b.AllocPerFrame,5:F1} B/frame ({b.Frames / b.Seconds / 1e6:F2} M frames/s wall, gc {b.Gcs})"));
        }
        double m(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        double libMedian = m(lib), handMedian = m(hand), ratio = m(ratios);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT session-path ns_per_frame={libMedian:F1} ratio={ratio:F2} hand_ns_per_frame={handMedian:F1} frames={frames} size={size} scheduler={scheduler} subscribe={subscribe} handler={handler}"));
        return 0;
    }

    private readonly record struct Cost(long Frames, double Seconds, double CpuNsPerFrame, double AllocPerFrame, int Gcs);

    private static byte[] BuildRead(int frames, int size)
    {
        var one = Framing.Datagram(Math.Max(size, 1)).Encode(new byte[size]);
        var read = new byte[one.Length * frames];
        for (int i = 0; i < frames; i++) one.CopyTo(read, i * one.Length);
        return read;
    }

    /// <summary>The least an echo does per read: copy it in, walk the frames, copy each into the outgoing buffer.</summary>
    private static Cost Hand(byte[] read, int size, TimeSpan duration)
    {
        var receive = new byte[read.Length];
        var send = new byte[read.Length];
        long frames = 0;
        var begin = ProcessMark.Take();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            for (int r = 0; r < 64; r++)
            {
                read.CopyTo(receive, 0);
                int at = 0, outAt = 0;
                while (at < receive.Length)
                {
                    int length = receive[at] < 254 ? receive[at] : BitConverter.ToUInt16(receive, at + 1);
                    int header = receive[at] < 254 ? 1 : 3;
                    send[outAt] = receive[at];
                    receive.AsSpan(at + 1, header - 1 + length).CopyTo(send.AsSpan(outAt + 1));
                    outAt += header + length;
                    at += header + length;
                    frames++;
                }
                if (outAt != read.Length) throw new InvalidOperationException("hand-rolled echo lost bytes");
            }
        }
        var cost = ProcessMark.Take() - begin;
        return new Cost(frames, sw.Elapsed.TotalSeconds, (double)cost.CpuNs / frames, (double)cost.AllocatedBytes / frames, cost.Gen0);
    }

    private static async Task<Cost> Library(byte[] read, int frames, string scheduler, string subscribe, string handler, TimeSpan duration)
    {
        LeanEventLoop? lean = null;
        using var pool = scheduler switch
        {
            "immediate" => new SchedulerPool(ImmediateScheduler.Instance),
            "default" => new SchedulerPool(1),
            "lean" => new SchedulerPool(lean = new LeanEventLoop("lean loop")),
            _ => throw new ArgumentException($"--scheduler must be immediate, default or lean, not '{scheduler}'"),
        };
        var settings = new SessionOptions { Framing = Framing.Datagram(), Schedulers = pool }.Resolve("replay");
        var transport = new ReplayTransport(read, duration);
        var session = new StreamSession(transport, settings, pool.Next());
        long counted = 0;
        Action<Frame> onFrame = handler switch
        {
            "echo" => f => f.Session.Send(f.Data),
            "count" => f => counted += f.Length + 1,
            _ => throw new ArgumentException($"--handler must be echo or count, not '{handler}'"),
        };
        // selectmany: a server's Sessions stream announces the session (and starts it), as TcpServer does.
        var registry = new SessionRegistry(settings, pool);
        using var sub = subscribe switch
        {
            "per-session" => session.Frames.Subscribe(onFrame),
            "selectmany" => registry.Sessions.SelectMany(s => s.Frames).Subscribe(onFrame),
            _ => throw new ArgumentException($"--subscribe must be per-session or selectmany, not '{subscribe}'"),
        };
        var closed = session.Closed.FirstAsync().ToTask();
        var begin = ProcessMark.Take();
        var sw = Stopwatch.StartNew();
        if (subscribe == "selectmany") registry.TryAnnounce(session);
        else session.Start();
        var reason = await closed.WaitAsync(duration + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        var cost = ProcessMark.Take() - begin;
        if (reason.Kind != CloseKind.RemoteClose) throw new InvalidOperationException($"the replay session closed with {reason}");
        int frameLength = read.Length / frames;
        long echoed = (handler == "count" ? counted : transport.BytesWritten) / frameLength;
        if (handler == "echo" && transport.BytesRead - transport.BytesWritten >= frameLength) throw new InvalidOperationException($"read {transport.BytesRead} B, echoed only {transport.BytesWritten} B");
        lean?.Dispose();
        return new Cost(echoed, sw.Elapsed.TotalSeconds, (double)cost.CpuNs / echoed, (double)cost.AllocatedBytes / echoed, cost.Gen0);
    }

    /// <summary>Reads return `read` over and over as one endless stream (each at most one copy of it) until the time is
    /// up, then end of stream; writes complete at once.</summary>
    private sealed class ReplayTransport(byte[] read, TimeSpan duration) : Transport
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _written;
        private int _position;
        private int _reads;

        public long BytesRead { get; private set; }
        public long BytesWritten => Volatile.Read(ref _written);
        public override string Name => "replay";

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if ((++_reads & 63) == 0 && _clock.Elapsed >= duration) return new ValueTask<int>(0);
            int n = Math.Min(buffer.Length, read.Length - _position);
            read.AsSpan(_position, n).CopyTo(buffer.Span);
            _position = (_position + n) % read.Length;
            BytesRead += n;
            return new ValueTask<int>(n);
        }

        public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _written, data.Length);
            return default;
        }

        public override void Shutdown() { }
        public override void Abort() { }
        public override void Dispose() { }
    }
}
