namespace Asio2.Rx;

/// <summary>
/// <c>Subscribe</c> for frame streams that isolates faults per session: the line every user writes first,
/// <c>server.Sessions.SelectMany(s =&gt; s.Frames).Subscribe(f =&gt; ...)</c>, binds here (a non-generic overload wins over
/// Rx's generic one), so a handler that throws on one session's frame closes that session with
/// <see cref="CloseKind.UserCodeFault"/> (logged and counted) and the subscription keeps serving every other session.
/// </summary>
/// <remarks>
/// With Rx's own <c>Subscribe</c>, an exception from <c>onNext</c> ends the whole subscription (Rx disposes an observer
/// that throws), so one bad frame would stop the handling of every session. A frame stream errors only when a server's
/// listener fails: without <c>onError</c> that is ignored here (the server logs it) instead of being thrown.
/// </remarks>
public static class FrameSubscriptions
{
    /// <summary>Handles every frame; a throwing handler closes only the frame's session.</summary>
    public static IDisposable Subscribe(this IObservable<Frame> frames, Action<Frame> onNext) =>
        Subscribe(frames, onNext, null, null);

    /// <summary>Handles every frame and the end of the stream; a throwing handler closes only the frame's session.</summary>
    public static IDisposable Subscribe(this IObservable<Frame> frames, Action<Frame> onNext, Action onCompleted) =>
        Subscribe(frames, onNext, null, onCompleted);

    /// <summary>Handles every frame and a listener failure; a throwing handler closes only the frame's session.</summary>
    public static IDisposable Subscribe(this IObservable<Frame> frames, Action<Frame> onNext, Action<Exception> onError) =>
        Subscribe(frames, onNext, onError, null);

    /// <summary>Handles every frame, a listener failure and the end; a throwing handler closes only the frame's session.</summary>
    public static IDisposable Subscribe(this IObservable<Frame> frames, Action<Frame> onNext, Action<Exception>? onError, Action? onCompleted)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(onNext);
        return frames.Subscribe(new IsolatingObserver(onNext, onError, onCompleted));
    }

    private sealed class IsolatingObserver(Action<Frame> onNext, Action<Exception>? onError, Action? onCompleted) : IObserver<Frame>
    {
        public void OnNext(Frame frame)
        {
            try
            {
                onNext(frame);
            }
            catch (Exception ex) when (frame.Session is not null)
            {
                frame.Session.OnUserCodeFault(ex);
            }
        }

        public void OnError(Exception error) => onError?.Invoke(error);

        public void OnCompleted() => onCompleted?.Invoke();
    }
}
