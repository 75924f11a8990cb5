using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Runtime.InteropServices;

namespace Asio2.Rx;

/// <summary>
/// An event loop that is also the socket engine of the sessions pinned to it (asio2's <c>io_context</c>): one thread
/// runs the work scheduled on it and its timers, and, when it has nothing to run, waits in its own epoll instance for
/// the sockets its sessions read. A receive that has to wait therefore completes on the loop thread itself, where the
/// session's frames are delivered, instead of on .NET's socket-engine thread, which would hand it to a thread-pool
/// worker, which would wake the loop: one thread switch per wait instead of three.
/// </summary>
/// <remarks>
/// Same contract as Rx's <c>EventLoopScheduler</c>: one thread, work in the order scheduled, never concurrent,
/// <see cref="ObjectDisposedException"/> for work scheduled after <see cref="Dispose"/>, and an exception thrown by a
/// work item ends the process (as an unhandled exception on that thread). Linux on x64 only (<see cref="TryCreate"/>
/// returns null elsewhere, and <see cref="SchedulerPool"/> then uses <c>EventLoopScheduler</c>). Sockets register
/// through <see cref="SocketChannel"/>.
/// </remarks>
internal sealed class SocketLoop : LocalScheduler, IDisposable
{
    [ThreadStatic] private static SocketLoop? t_current;

    private static readonly long TicksPerMs = Stopwatch.Frequency / 1000;

    private readonly int _epoll;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly object _gate = new();
    private List<Work> _incoming = [];    // under _gate
    private List<Work> _running = [];     // the loop's
    private readonly PriorityQueue<Work, (long Due, long Seq)> _timers = new(); // the loop's; equal due times keep their order
    private long _timerSeq;
    private bool _sleeping;               // under _gate: the loop waits (or is about to) in epoll_wait
    private volatile bool _disposed;
    private bool _ended;                  // under _gate: the thread is done; its fd numbers may be someone else's now

    private SocketLoop(int epoll, int wakeFd, string name)
    {
        _epoll = epoll;
        _wakeFd = wakeFd;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>A new loop thread named <paramref name="name"/>, or null where this platform has no epoll to offer.</summary>
    public static SocketLoop? TryCreate(string name)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        int epoll = -1, wake = -1;
        try
        {
            epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
            wake = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
            if (epoll < 0 || wake < 0) throw new InvalidOperationException("epoll is not available");
            var ev = new Native.EpollEvent { Events = Native.EPOLLIN, Data = 0 };
            if (Native.epoll_ctl(epoll, Native.EPOLL_CTL_ADD, wake, ref ev) != 0) throw new InvalidOperationException("epoll_ctl failed");
            return new SocketLoop(epoll, wake, name);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
        {
            if (epoll >= 0) Native.close(epoll);
            if (wake >= 0) Native.close(wake);
            return null;
        }
    }

    /// <summary>The loop's thread.</summary>
    public Thread Thread => _thread;

    /// <summary>True on this loop's thread.</summary>
    public bool IsCurrent => ReferenceEquals(t_current, this);

    public override IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action) =>
        Post(new Work<TState>(this, state, action, 0, atExit: false));

    public override IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) =>
        Post(new Work<TState>(this, state, action, DueTimestamp(dueTime), atExit: false));

    /// <summary>Saturates: a due time beyond the clock's range (<c>TimeSpan.MaxValue</c>) never comes, rather than
    /// overflowing into the past.</summary>
    internal static long DueTimestamp(TimeSpan dueTime)
    {
        if (dueTime <= TimeSpan.Zero) return 0;
        long now = Stopwatch.GetTimestamp();
        double ticks = dueTime.TotalSeconds * Stopwatch.Frequency;
        return ticks >= long.MaxValue - now ? long.MaxValue : now + (long)ticks;
    }

    private Work Post(Work work)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Add(work);
        }
        return work;
    }

    private void Add(Work work)
    {
        _incoming.Add(work);
        if (_sleeping)
        {
            _sleeping = false;
            Wake();
        }
    }

    /// <summary>Runs a channel's clean-up on the loop, even once it is disposed (as its thread ends), or here if the
    /// thread has ended: it must not race with a report the loop still dispatches, nor be dropped with the queue.</summary>
    internal void ScheduleCleanup<TState>(TState state, Action<TState> action)
    {
        lock (_gate)
        {
            if (!_ended)
            {
                Add(new Work<(TState, Action<TState>)>(this, (state, action), static (_, s) =>
                {
                    s.Item2(s.Item1);
                    return Disposable.Empty;
                }, 0, atExit: true));
                return;
            }
        }
        action(state);
    }

    // Under _gate, as the loop closes the eventfd under it: a late write must not land in a reused fd number.
    private void Wake()
    {
        ulong one = 1;
        if (!_ended) Native.write(_wakeFd, ref one, sizeof(ulong));
    }

    /// <summary>Registers <paramref name="fd"/> for one readiness report (readable, peer closed, or error) to
    /// <paramref name="channel"/>'s handle; level-triggered, so data already there reports at once. On the loop.</summary>
    internal bool Arm(int fd, nint channel, bool first)
    {
        var ev = new Native.EpollEvent { Events = Native.EPOLLIN | Native.EPOLLRDHUP | Native.EPOLLONESHOT, Data = (ulong)channel };
        return Native.epoll_ctl(_epoll, first ? Native.EPOLL_CTL_ADD : Native.EPOLL_CTL_MOD, fd, ref ev) == 0;
    }

    /// <summary>Forgets <paramref name="fd"/>; called before the socket closes (its number may be reused). Any thread.</summary>
    internal void Disarm(int fd)
    {
        var ev = default(Native.EpollEvent);
        lock (_gate)
        {
            // Once the loop closed its epoll, the number may be another epoll's (.NET's own socket engine's).
            if (!_ended) Native.epoll_ctl(_epoll, Native.EPOLL_CTL_DEL, fd, ref ev);
        }
    }

    private void Run()
    {
        t_current = this;
        var events = new Native.EpollEvent[128];
        try
        {
            while (!_disposed)
            {
                RunReady();
                int timeout;
                lock (_gate)
                {
                    if (_incoming.Count > 0 || _disposed) timeout = 0;
                    else
                    {
                        timeout = _timers.TryPeek(out _, out var key) ? MillisecondsUntil(key.Due) : -1;
                        _sleeping = timeout != 0;
                    }
                }
                // Also with work waiting (timeout 0): sockets are polled between rounds of work, so both are served.
                int n = Native.epoll_wait(_epoll, events, events.Length, timeout);
                if (timeout != 0) Volatile.Write(ref _sleeping, false); // a racing Post at worst wakes us once more
                for (int i = 0; i < n; i++)
                {
                    ulong data = events[i].Data;
                    if (data == 0)
                    {
                        ulong drained = 0;
                        Native.read(_wakeFd, ref drained, sizeof(ulong));
                    }
                    else
                    {
                        // The channel frees its handle on this thread, after it left the epoll set: a handle seen here is alive.
                        ((SocketChannel)GCHandle.FromIntPtr((nint)data).Target!).OnReadable();
                    }
                }
            }
        }
        finally
        {
            List<Work> left;
            lock (_gate)
            {
                _ended = true;
                Native.close(_epoll);
                Native.close(_wakeFd);
                left = _incoming;
            }
            // Scheduled work not run is dropped (as EventLoopScheduler drops it), the channels' clean-up is not.
            foreach (var work in left)
                if (work.AtExit) work.Invoke();
        }
    }

    /// <summary>Runs the work scheduled so far (timed work joins the timer queue) and the timers that are due.</summary>
    private void RunReady()
    {
        List<Work> ready;
        lock (_gate)
        {
            ready = _incoming;
            _incoming = _running;
        }
        _running = ready;
        long now = Stopwatch.GetTimestamp();
        foreach (var work in ready)
        {
            if (work.Due > now) _timers.Enqueue(work, (work.Due, _timerSeq++));
            else work.Invoke();
        }
        ready.Clear();
        now = Stopwatch.GetTimestamp();
        while (_timers.TryPeek(out var timer, out var key) && key.Due <= now)
        {
            _timers.Dequeue();
            timer.Invoke();
        }
    }

    private static int MillisecondsUntil(long due)
    {
        long left = due - Stopwatch.GetTimestamp();
        return left <= 0 ? 0 : (int)Math.Min(int.MaxValue, (left + TicksPerMs - 1) / TicksPerMs);
    }

    /// <summary>Stops the thread after the work item it is running; work not yet run is dropped.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Wake();
        }
    }

    /// <summary>A scheduled item; disposing it cancels it (and what it scheduled in turn, as Rx's items do).</summary>
    private abstract class Work(long due, bool atExit) : IDisposable
    {
        private static readonly IDisposable Canceled = new CanceledMark();
        private IDisposable? _inner;

        public long Due { get; } = due;

        public bool AtExit { get; } = atExit;

        public void Invoke()
        {
            if (Volatile.Read(ref _inner) is not null) return;
            var inner = Run();
            if (Interlocked.CompareExchange(ref _inner, inner, null) is not null) inner.Dispose();
        }

        protected abstract IDisposable Run();

        public void Dispose() => Interlocked.Exchange(ref _inner, Canceled)?.Dispose();

        private sealed class CanceledMark : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }

    private sealed class Work<TState>(SocketLoop loop, TState state, Func<IScheduler, TState, IDisposable> action, long due, bool atExit)
        : Work(due, atExit)
    {
        protected override IDisposable Run() => action(loop, state);
    }

    private static class Native
    {
        public const int EPOLL_CLOEXEC = 0x80000;
        public const int EFD_CLOEXEC = 0x80000;
        public const int EFD_NONBLOCK = 0x800;
        public const int EPOLL_CTL_ADD = 1;
        public const int EPOLL_CTL_DEL = 2;
        public const int EPOLL_CTL_MOD = 3;
        public const uint EPOLLIN = 0x001;
        public const uint EPOLLRDHUP = 0x2000;
        public const uint EPOLLONESHOT = 1u << 30;

        /// <summary><c>struct epoll_event</c>, packed on x86-64.</summary>
        [StructLayout(LayoutKind.Sequential, Pack = 4)]
        public struct EpollEvent
        {
            public uint Events;
            public ulong Data;
        }

        [DllImport("libc", SetLastError = true)]
        public static extern int epoll_create1(int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int epoll_ctl(int epfd, int op, int fd, ref EpollEvent ev);

        [DllImport("libc", SetLastError = true)]
        public static extern int epoll_wait(int epfd, [Out] EpollEvent[] events, int maxevents, int timeout);

        [DllImport("libc", SetLastError = true)]
        public static extern int eventfd(uint initval, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern nint read(int fd, ref ulong value, nint count);

        [DllImport("libc", SetLastError = true)]
        public static extern nint write(int fd, ref ulong value, nint count);

        [DllImport("libc")]
        public static extern int close(int fd);
    }
}
