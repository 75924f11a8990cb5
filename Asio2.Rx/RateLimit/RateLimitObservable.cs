using System.Reactive.Concurrency;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>The rate limiter of <see cref="SessionOptions.ReadRateLimit"/> as an operator for any stream.</summary>
public static partial class RateLimitObservable
{
    /// <summary>
    /// Passes the items of <paramref name="source"/> no faster than <paramref name="limit"/>, each item costing
    /// <paramref name="size"/> bytes. Items are delayed, never dropped, and keep their order; completion and errors
    /// come after the items queued before them.
    /// </summary>
    /// <param name="source">The stream to pace.</param>
    /// <param name="limit">The rate and burst; see <see cref="RateLimit"/> for the exact schedule.</param>
    /// <param name="size">An item's cost in bytes (0 or more). An exception from it, or a negative size, ends the stream with that error.</param>
    /// <param name="scheduler">The clock and the thread delayed items are delivered on. Defaults to <see cref="DefaultScheduler"/>.</param>
    /// <remarks>
    /// Cold: each subscription has its own bucket, full at subscription. An item that finds enough tokens (and no
    /// items waiting before it) is passed on at once, on the thread that produced it; a delayed item is delivered on
    /// <paramref name="scheduler"/>. Items waiting for tokens are held in memory: pace a producer that can outrun the
    /// limit for long (or use a session's <see cref="SessionOptions.WriteRateLimit"/>, which pushes back instead).
    /// </remarks>
    /// <example>
    /// <code>
    /// // Replay a capture at 64 KiB/s.
    /// chunks.RateLimit(new RateLimit(64 * 1024), c => c.Length).Subscribe(c => session.Send(c));
    /// </code>
    /// </example>
    public static IObservable<T> RateLimit<T>(this IObservable<T> source, RateLimit limit, Func<T, int> size, IScheduler? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(limit);
        ArgumentNullException.ThrowIfNull(size);
        return new RateLimiter<T>(source, limit, size, scheduler ?? DefaultScheduler.Instance);
    }

    /// <summary>Paces items of <paramref name="source"/> to <paramref name="bytesPerSecond"/> with a burst of
    /// <paramref name="burst"/> bytes; see <see cref="RateLimit{T}(IObservable{T}, Asio2.Rx.RateLimit, Func{T, int}, IScheduler?)"/>.</summary>
    public static IObservable<T> RateLimit<T>(this IObservable<T> source, long bytesPerSecond, long burst, Func<T, int> size, IScheduler? scheduler = null) =>
        source.RateLimit(new RateLimit(bytesPerSecond, burst), size, scheduler);

    /// <summary>Paces byte chunks (serial bytes, file blocks, frames' payloads) to <paramref name="limit"/>, each chunk
    /// costing its length; see <see cref="RateLimit{T}(IObservable{T}, Asio2.Rx.RateLimit, Func{T, int}, IScheduler?)"/>.</summary>
    public static IObservable<ReadOnlyMemory<byte>> RateLimit(this IObservable<ReadOnlyMemory<byte>> source, RateLimit limit, IScheduler? scheduler = null) =>
        source.RateLimit(limit, static m => m.Length, scheduler);
}

/// <summary>The operator: one bucket and one queue per subscription.</summary>
internal sealed class RateLimiter<T>(IObservable<T> source, RateLimit limit, Func<T, int> size, IScheduler scheduler) : IObservable<T>
{
    public IDisposable Subscribe(IObserver<T> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var sink = new Sink(observer, new TokenBucket(limit, scheduler), size);
        sink.SetUpstream(source.Subscribe(sink));
        return sink;
    }

    /// <summary>
    /// Per-subscription state. Items go through a queue; one drain at a time passes them downstream (from the
    /// producer's thread when tokens suffice, else from the bucket's timer), so the observer is never called
    /// concurrently and sees items in order.
    /// </summary>
    private sealed class Sink : IObserver<T>, IDisposable
    {
        private readonly IObserver<T> _observer;
        private readonly TokenBucket _bucket;
        private readonly Func<T, int> _size;
        private readonly Queue<(T Item, int Size)> _queue = new();
        private readonly object _lock = new();
        private readonly Action _resume;
        private IDisposable? _upstream;
        private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _wait;
        private bool _draining;
        private bool _waiting;
        private bool _done;       // the source ended (its end is queued behind the items)
        private Exception? _error;
        private bool _disposed;

        public Sink(IObserver<T> observer, TokenBucket bucket, Func<T, int> size)
        {
            _observer = observer;
            _bucket = bucket;
            _size = size;
            _resume = Resume;
        }

        public void SetUpstream(IDisposable upstream)
        {
            bool disposed;
            lock (_lock)
            {
                disposed = _disposed;
                if (!disposed) _upstream = upstream;
            }
            if (disposed) upstream.Dispose();
        }

        public void OnNext(T value)
        {
            int cost;
            try
            {
                cost = _size(value);
                if (cost < 0) throw new ArgumentOutOfRangeException(nameof(value), cost, "an item's size must not be negative");
            }
            catch (Exception ex)
            {
                OnError(ex);
                return;
            }
            lock (_lock)
            {
                if (_done || _disposed) return;
                _queue.Enqueue((value, cost));
                if (_draining || _waiting) return;
                _draining = true;
            }
            Drain();
        }

        public void OnError(Exception error) => End(error);

        public void OnCompleted() => End(null);

        private void End(Exception? error)
        {
            lock (_lock)
            {
                if (_done || _disposed) return;
                _done = true;
                _error = error;
                if (_draining || _waiting) return;
                _draining = true;
            }
            Drain();
        }

        private void Drain()
        {
            while (true)
            {
                T item;
                ValueTask wait;
                lock (_lock)
                {
                    if (_disposed) return;
                    if (_queue.Count == 0)
                    {
                        _draining = false;
                        if (!_done) return;
                        _disposed = true;
                    }
                    else
                    {
                        var (next, cost) = _queue.Peek();
                        wait = _bucket.WaitAsync(cost);
                        if (!wait.IsCompleted)
                        {
                            _draining = false;
                            _waiting = true;
                            _wait = wait.ConfigureAwait(false).GetAwaiter();
                            goto Suspend;
                        }
                        wait.GetAwaiter().GetResult();
                        _bucket.Take(cost);
                        _queue.Dequeue();
                        item = next;
                        goto Deliver;
                    }
                }
                // The queue is empty and the source has ended: pass its end on.
                _bucket.Close();
                if (_error is { } e) _observer.OnError(e);
                else _observer.OnCompleted();
                return;

            Deliver:
                _observer.OnNext(item);
                continue;

            Suspend:
                // Outside the lock: an already-finished wait runs the continuation right here.
                _wait.UnsafeOnCompleted(_resume);
                return;
            }
        }

        private void Resume()
        {
            lock (_lock)
            {
                _wait.GetResult();
                _wait = default;
                _waiting = false;
                if (_disposed || _draining) return;
                _draining = true;
            }
            Drain();
        }

        public void Dispose()
        {
            IDisposable? upstream;
            lock (_lock)
            {
                if (_disposed && _upstream is null) return;
                _disposed = true;
                _queue.Clear();
                upstream = _upstream;
                _upstream = null;
            }
            upstream?.Dispose();
            _bucket.Close();
        }
    }
}
