using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>Rx operators over <see cref="Frame"/> streams that use the sessions' read credit.</summary>
public static class FrameObservableExtensions
{
    /// <summary>
    /// Runs an asynchronous step per frame and emits its results. While a frame's step runs, the frame's session holds
    /// reading (<see cref="Session.HoldReading"/>), so each session's frames are processed one at a time, in order,
    /// and the bytes behind them wait in the kernel (or the peer) instead of piling up in the process. Frames of
    /// different sessions run concurrently; results are emitted one at a time.
    /// </summary>
    /// <remarks>A step that throws (or faults) closes only its frame's session, with
    /// <see cref="CloseKind.UserCodeFault"/>, as a throwing subscriber does. The result completes when
    /// <paramref name="frames"/> completes and the steps in flight are done. Unsubscribing cancels the token given to
    /// the steps and releases their holds.</remarks>
    /// <example>
    /// <code>
    /// server.Sessions.SelectMany(s => s.Frames)
    ///       .SelectAsync(async (f, ct) => { await store.WriteAsync(f.Data, ct); return f.Length; })
    ///       .Subscribe(n => Console.WriteLine($"stored {n} bytes"));
    /// </code>
    /// </example>
    public static IObservable<TResult> SelectAsync<TResult>(this IObservable<Frame> frames, Func<Frame, CancellationToken, Task<TResult>> step)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(step);
        return Observable.Create<TResult>(observer =>
        {
            var cancel = new CancellationDisposable();
            var gate = new object();
            int inFlight = 0;
            bool sourceDone = false, stopped = false;

            void CompleteIfIdle()
            {
                // Under gate.
                if (sourceDone && inFlight == 0 && !stopped)
                {
                    stopped = true;
                    observer.OnCompleted();
                }
            }

            async Task RunAsync(Frame frame, IDisposable hold)
            {
                try
                {
                    var result = await step(frame, cancel.Token).ConfigureAwait(false);
                    lock (gate)
                    {
                        if (!stopped) observer.OnNext(result);
                    }
                }
                catch (OperationCanceledException) when (cancel.Token.IsCancellationRequested)
                {
                    // Unsubscribed: nobody is waiting for the result.
                }
                catch (Exception ex)
                {
                    // The step ran off the scheduler; the fault is handled on it, like a throwing subscriber's.
                    frame.Session.Scheduler.Schedule((frame.Session, ex), static (_, st) =>
                    {
                        st.Session.OnUserCodeFault(st.ex);
                        return Disposable.Empty;
                    });
                }
                finally
                {
                    hold.Dispose();
                    lock (gate)
                    {
                        inFlight--;
                        CompleteIfIdle();
                    }
                }
            }

            var subscription = frames.Subscribe(
                frame =>
                {
                    var hold = frame.Session.HoldReading();
                    lock (gate) inFlight++;
                    _ = RunAsync(frame, hold);
                },
                error =>
                {
                    lock (gate)
                    {
                        if (stopped) return;
                        stopped = true;
                        observer.OnError(error);
                    }
                },
                () =>
                {
                    lock (gate)
                    {
                        sourceDone = true;
                        CompleteIfIdle();
                    }
                });
            return new CompositeDisposable(subscription, cancel);
        });
    }
}
