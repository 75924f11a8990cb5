using System.Reactive.Concurrency;

namespace Asio2.Rx;

/// <summary>
/// A fixed set of schedulers that sessions are pinned to, round robin: asio2's "one io_context per core".
/// Everything a session raises (frames, close, its timers) runs on its pinned scheduler, one at a time,
/// so per-session handler state needs no locks.
/// </summary>
/// <remarks>
/// <para>Thread-safe. A pool can be shared by any number of servers and clients. A pool built from schedulers
/// you pass in (for example one <c>TestScheduler</c>) does not own them and does not dispose them.</para>
/// <para><b>Virtual time.</b> Sessions run exactly the same code on a <c>TestScheduler</c> as on an event loop: the
/// read loop hops onto the session's scheduler when a receive completes. A <c>TestScheduler</c> is not thread-safe,
/// so drive it with transports that complete on the thread that advances it: <see cref="InMemory.CreatePair"/>
/// (bytes move synchronously on the sending thread) or a fake device. Real sockets complete on the thread pool,
/// which would schedule onto the <c>TestScheduler</c> from another thread while the test advances it; use real
/// sockets with a real scheduler.</para>
/// </remarks>
public sealed class SchedulerPool : IDisposable
{
    private static readonly Lazy<SchedulerPool> s_shared = new(() => new SchedulerPool(Environment.ProcessorCount));

    private readonly IScheduler[] _schedulers;
    private readonly IDisposable[] _owned;
    private int _next = -1;

    /// <summary>The one loop every session of this pool runs on, with its thread; null when the pool has several
    /// schedulers, or wraps schedulers it did not create (their threads are unknown to it).</summary>
    internal LoopThread? SingleLoop { get; }

    /// <summary>Creates <paramref name="count"/> event-loop threads (background threads named "Asio2.Rx loop N").</summary>
    /// <remarks>On Linux (x64) each loop thread is also the socket engine of its TCP and TLS sessions: it waits for
    /// their data itself, so a session's receive completes on the thread that delivers its frames. Elsewhere the loops
    /// are Rx's <c>EventLoopScheduler</c>s and receives complete on .NET's socket threads, then hop to the loop.</remarks>
    public SchedulerPool(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _owned = new IDisposable[count];
        _schedulers = new IScheduler[count];
        for (int i = 0; i < count; i++)
        {
            var loop = LoopThread.Create($"Asio2.Rx loop {i}");
            _schedulers[i] = loop.Scheduler;
            _owned[i] = (IDisposable)loop.Scheduler;
            if (count == 1) SingleLoop = loop;
        }
    }

    /// <summary>Wraps existing schedulers (e.g. a <c>TestScheduler</c>, or <c>ImmediateScheduler.Instance</c> for the lowest latency).
    /// The pool does not dispose them.</summary>
    public SchedulerPool(params IScheduler[] schedulers)
    {
        ArgumentNullException.ThrowIfNull(schedulers);
        if (schedulers.Length == 0) throw new ArgumentException("At least one scheduler is needed.", nameof(schedulers));
        _schedulers = (IScheduler[])schedulers.Clone();
        _owned = [];
    }

    /// <summary>The process-wide default pool: one event loop per core, created on first use, never disposed.</summary>
    public static SchedulerPool Shared => s_shared.Value;

    /// <summary>How many schedulers the pool holds.</summary>
    public int Count => _schedulers.Length;

    /// <summary>The next scheduler, round robin. Each new session calls this once and keeps the result.</summary>
    public IScheduler Next()
    {
        uint i = (uint)Interlocked.Increment(ref _next);
        return _schedulers[i % (uint)_schedulers.Length];
    }

    /// <summary>Stops the event-loop threads this pool created. Wrapped schedulers are left alone.</summary>
    public void Dispose()
    {
        if (ReferenceEquals(this, s_shared.IsValueCreated ? s_shared.Value : null)) return;
        foreach (var s in _owned) s.Dispose();
    }
}

/// <summary>A single-threaded scheduler a <see cref="SchedulerPool"/> creates, and a cheap test for "the caller runs on
/// its thread".</summary>
internal sealed class LoopThread
{
    private volatile Thread? _thread;

    private LoopThread(IScheduler scheduler, Thread? thread)
    {
        Scheduler = scheduler;
        _thread = thread;
    }

    /// <summary>A <see cref="SocketLoop"/> where the platform has one, else an <c>EventLoopScheduler</c>; its thread is
    /// a background thread named <paramref name="name"/>.</summary>
    public static LoopThread Create(string name) =>
        SocketLoop.TryCreate(name) is { } socketLoop ? new LoopThread(socketLoop, socketLoop.Thread) : CreateEventLoop(name);

    /// <summary>An <c>EventLoopScheduler</c>, whose thread starts with its first work item.</summary>
    public static LoopThread CreateEventLoop(string name)
    {
        LoopThread? loop = null;
        loop = new LoopThread(new EventLoopScheduler(start => loop!._thread = new Thread(start) { IsBackground = true, Name = name }), null);
        return loop;
    }

    public IScheduler Scheduler { get; }

    /// <summary>True on the loop's thread.</summary>
    public bool IsCurrent => ReferenceEquals(Thread.CurrentThread, _thread);
}
