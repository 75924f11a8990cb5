using System.Reactive.Disposables;

namespace Asio2.Rx;

/// <summary>
/// A hot stream with the least between the producer and its subscribers (a session's <see cref="Session.Frames"/>):
/// <see cref="OnNext"/> is one interface call per observer, and a direct one when there is one observer. Late
/// subscribers see what comes after they subscribed; after <see cref="OnCompleted"/> they complete at once.
/// </summary>
/// <remarks>Subscribe and unsubscribe are thread-safe and may run inside <see cref="OnNext"/> (copy-on-write observer
/// array: a value being delivered goes to the observers there were when its delivery began). The producer calls
/// <see cref="OnNext"/> and <see cref="OnCompleted"/> from one thread at a time (the session's scheduler).</remarks>
internal sealed class HotStream<T> : IObservable<T>
{
    private static readonly IObserver<T>[] s_none = [];
#pragma warning disable CA1825 // a distinct empty array marks completion: Array.Empty would be the same object as s_none
    private static readonly IObserver<T>[] s_completed = new IObserver<T>[0];
#pragma warning restore CA1825

    private IObserver<T>[] _observers = s_none;

    public bool HasObservers => Volatile.Read(ref _observers).Length > 0;

    public IDisposable Subscribe(IObserver<T> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        while (true)
        {
            var current = Volatile.Read(ref _observers);
            if (ReferenceEquals(current, s_completed))
            {
                observer.OnCompleted();
                return Disposable.Empty;
            }
            var next = new IObserver<T>[current.Length + 1];
            current.CopyTo(next, 0);
            next[^1] = observer;
            if (Interlocked.CompareExchange(ref _observers, next, current) == current) return new Subscription(this, observer);
        }
    }

    public void OnNext(T value)
    {
        var observers = Volatile.Read(ref _observers);
        if (observers.Length == 1)
        {
            observers[0].OnNext(value);
            return;
        }
        foreach (var observer in observers) observer.OnNext(value);
    }

    public void OnCompleted()
    {
        foreach (var observer in Interlocked.Exchange(ref _observers, s_completed)) observer.OnCompleted();
    }

    private void Unsubscribe(IObserver<T> observer)
    {
        while (true)
        {
            var current = Volatile.Read(ref _observers);
            int index = Array.IndexOf(current, observer);
            if (index < 0) return; // completed meanwhile
            var next = current.Length == 1 ? s_none : new IObserver<T>[current.Length - 1];
            Array.Copy(current, next, index);
            Array.Copy(current, index + 1, next, index, current.Length - index - 1);
            if (Interlocked.CompareExchange(ref _observers, next, current) == current) return;
        }
    }

    private sealed class Subscription(HotStream<T> stream, IObserver<T> observer) : IDisposable
    {
        private HotStream<T>? _stream = stream;

        public void Dispose() => Interlocked.Exchange(ref _stream, null)?.Unsubscribe(observer);
    }
}
