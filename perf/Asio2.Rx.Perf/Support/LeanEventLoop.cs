using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Asio2.Rx.Perf.Support;

/// <summary>
/// An ablation, not a product: the least an event-loop <see cref="IScheduler"/> needs to do, to measure how much of the
/// scheduler hop is Rx's <see cref="EventLoopScheduler"/> itself (a <c>ScheduledItem</c>, a lock and a semaphore release per
/// item, a <c>ToArray</c> per wake-up) and how much is the hop. One thread; immediate work goes through a lock-free
/// queue and wakes the thread only when it went idle; timed work waits on a <see cref="Timer"/> and then joins the queue.
/// With <c>spin: false</c> the idle thread blocks at once instead of spinning first: <see cref="SemaphoreSlim.Wait()"/>
/// (as in <see cref="EventLoopScheduler"/>) spins, and in a process limited to one CPU every spin iteration is a
/// <c>sched_yield</c>, i.e. a context switch to whichever thread is runnable.
/// </summary>
internal sealed class LeanEventLoop : IScheduler, IDisposable
{
    private readonly ConcurrentQueue<Work> _queue = new();
    private readonly SemaphoreSlim? _wake;
    private readonly ManualResetEventSlim? _wakeNoSpin;
    private readonly Thread _thread;
    private int _count; // items enqueued and not yet run; the 0 -> 1 transition wakes the thread
    private volatile bool _disposed;

    public LeanEventLoop(string name, bool spin = true)
    {
        if (spin) _wake = new SemaphoreSlim(0);
        else _wakeNoSpin = new ManualResetEventSlim(false, spinCount: 0);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public DateTimeOffset Now => DateTimeOffset.UtcNow;

    public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action)
    {
        Post(new Work<TState>(state, action));
        return Disposable.Empty;
    }

    public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action)
    {
        if (dueTime <= TimeSpan.Zero) return Schedule(state, action);
        var work = new Work<TState>(state, action);
        var timer = new Timer(static s =>
        {
            var (loop, item) = ((LeanEventLoop, Work))s!;
            loop.Post(item);
        }, (this, (Work)work), dueTime, Timeout.InfiniteTimeSpan);
        return Disposable.Create((work, timer), static s =>
        {
            s.work.Cancel();
            s.timer.Dispose();
        });
    }

    public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) =>
        Schedule(state, dueTime - Now, action);

    private void Post(Work work)
    {
        _queue.Enqueue(work);
        if (Interlocked.Increment(ref _count) == 1) Wake();
    }

    private void Wake()
    {
        if (_wake is not null) _wake.Release();
        else _wakeNoSpin!.Set();
    }

    private void Run()
    {
        while (!_disposed)
        {
            if (_wake is not null)
            {
                _wake.Wait();
            }
            else
            {
                // Reset before draining: a Post that finds the loop idle (count 0 -> 1) sets it again afterwards.
                _wakeNoSpin!.Wait();
                _wakeNoSpin.Reset();
            }
            int ran = 0;
            while (true)
            {
                while (_queue.TryDequeue(out var work))
                {
                    work.Invoke(this);
                    ran++;
                }
                if (Interlocked.Add(ref _count, -ran) == 0) break;
                ran = 0;
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        Wake();
    }

    private abstract class Work
    {
        private volatile bool _canceled;
        public void Cancel() => _canceled = true;
        public void Invoke(IScheduler scheduler)
        {
            if (!_canceled) Run(scheduler);
        }
        protected abstract void Run(IScheduler scheduler);
    }

    private sealed class Work<TState>(TState state, Func<IScheduler, TState, IDisposable> action) : Work
    {
        protected override void Run(IScheduler scheduler) => action(scheduler, state);
    }
}
