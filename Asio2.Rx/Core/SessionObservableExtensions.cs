using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>Rx operators over a server's <c>Sessions</c> stream.</summary>
public static class SessionObservableExtensions
{
    /// <summary>
    /// Merges every session's frames into one stream: <c>server.Sessions.SelectMany(s =&gt; s.Frames)</c> binds here
    /// (a non-generic overload wins over Rx's generic one) and keeps Rx's contract: notifications one at a time, each
    /// inner stream's frames in order, completion once <paramref name="sessions"/> and every inner stream completed, the
    /// first error (of <paramref name="sessions"/>, an inner stream, or a throwing <paramref name="selector"/>)
    /// delivered once, ending the subscription.
    /// </summary>
    /// <remarks>
    /// <para><b>One loop.</b> When every session of the server runs on one event loop (its
    /// <see cref="SessionOptions.Schedulers"/> pool has a single loop, as on a one-core machine), frames are serialized
    /// by that loop's thread instead of by a lock per frame: every frame and the completion (or error) arrive on that
    /// loop, those of inner streams moved off it (<c>Delay</c>, <c>ObserveOn</c>, ...) included, in their order.</para>
    /// <para><b>Otherwise</b> (several loops, schedulers the pool did not create, or <paramref name="sessions"/> wrapped
    /// by another operator) this is Rx's <c>SelectMany</c>: each frame arrives on its session's scheduler, one at a
    /// time.</para>
    /// </remarks>
    /// <param name="sessions">A server's <c>Sessions</c>.</param>
    /// <param name="selector">The frames of a session (usually <c>s =&gt; s.Frames</c>).</param>
    public static IObservable<Frame> SelectMany(this IObservable<Session> sessions, Func<Session, IObservable<Frame>> selector)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(selector);
        return sessions is ILoopSessions { SingleLoop: { } loop } source
            ? new LoopMerge(source, sessions, selector, loop)
            : Observable.SelectMany(sessions, selector);
    }
}
