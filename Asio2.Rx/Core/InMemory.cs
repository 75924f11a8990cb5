using System.IO.Pipelines;
using System.Net;

namespace Asio2.Rx;

/// <summary>
/// Connected pairs of sessions without sockets: framing, RPC, timeouts, reconnect logic and rate limits run over
/// them entirely in virtual time.
/// </summary>
/// <example>
/// <code>
/// var scheduler = new TestScheduler();
/// var options = new SessionOptions { Framing = Framing.Delimiter('\n'), Schedulers = new SchedulerPool(scheduler) };
/// var pair = InMemory.CreatePair(options);
/// pair.B.Frames.Subscribe(f => Console.WriteLine(f.Text));
/// pair.Start();
/// pair.A.Send("hi\n");
/// scheduler.AdvanceBy(1);   // "hi" is delivered
/// </code>
/// </example>
/// <remarks>
/// Bytes move synchronously: a <c>Send</c> on one side runs the other side's read loop on the sending thread up to
/// the point where it schedules the frames, so a test that owns the scheduler sees them after one
/// <c>AdvanceBy</c>. Each direction buffers at most <see cref="WindowBytes"/>; past that the writer waits, as TCP
/// flow control would make it.
/// </remarks>
public static class InMemory
{
    /// <summary>Bytes one direction buffers before the sender waits: 64 KiB, about a TCP window.</summary>
    public const int WindowBytes = 64 * 1024;

    /// <summary>Creates a connected pair; call <see cref="InMemoryPair.Start"/> after subscribing.</summary>
    public static InMemoryPair CreatePair(SessionOptions? a = null, SessionOptions? b = null)
    {
        var aToB = NewPipe();
        var bToA = NewPipe();
        var optionsA = a ?? new SessionOptions();
        var optionsB = b ?? a ?? new SessionOptions();
        var settingsA = optionsA.Resolve("memory");
        var settingsB = optionsB.Resolve("memory");
        var endA = new PipeEndPoint("A");
        var endB = new PipeEndPoint("B");
        var sa = new StreamSession(new PipeTransport(bToA.Reader, aToB.Writer, endA, endB), settingsA, settingsA.Schedulers.Next());
        var sb = new StreamSession(new PipeTransport(aToB.Reader, bToA.Writer, endB, endA), settingsB, settingsB.Schedulers.Next());
        return new InMemoryPair(sa, sb);
    }

    private static Pipe NewPipe() => new(new PipeOptions(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: WindowBytes,
        resumeWriterThreshold: WindowBytes / 2,
        useSynchronizationContext: false));

    /// <summary>Names one end of an in-memory pair.</summary>
    private sealed class PipeEndPoint(string name) : EndPoint
    {
        public override string ToString() => $"memory:{name}";
    }

    /// <summary>One end of a pair: reads what the other end writes.</summary>
    private sealed class PipeTransport(PipeReader input, PipeWriter output, EndPoint local, EndPoint remote) : Transport
    {
        private int _closed;

        public override string Name => "memory";
        public override EndPoint? LocalEndPoint => local;
        public override EndPoint? RemoteEndPoint => remote;

        public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var data = result.Buffer;
            if (data.IsEmpty && result.IsCompleted) return 0;
            int n = (int)Math.Min(data.Length, buffer.Length);
            var slice = data.Slice(0, n);
            foreach (var segment in slice)
            {
                segment.Span.CopyTo(buffer.Span);
                buffer = buffer[segment.Length..];
            }
            input.AdvanceTo(slice.End);
            return n;
        }

        public override async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            var flush = await output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            if (flush.IsCompleted) throw new ConnectionResetException("the other end of the in-memory pair is closed");
        }

        public override void Shutdown()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            output.Complete();
            input.Complete();
        }

        public override void Abort()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            output.Complete(new ConnectionResetException("the other end of the in-memory pair aborted"));
            input.Complete();
        }

        public override void Dispose() => Shutdown();
    }
}

/// <summary>Two connected in-memory sessions.</summary>
public sealed class InMemoryPair
{
    private int _started;

    internal InMemoryPair(Session a, Session b)
    {
        A = a;
        B = b;
    }

    /// <summary>One end.</summary>
    public Session A { get; }

    /// <summary>The other end.</summary>
    public Session B { get; }

    /// <summary>Starts both sessions reading. Subscribe to their streams first to see every frame.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        A.Start();
        B.Start();
    }
}
