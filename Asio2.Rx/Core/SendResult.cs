using System.Reactive;
using System.Reactive.Threading.Tasks;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// The completion of one <c>Send</c>: await it to learn when the bytes were handed to the operating
/// system (or why they never will be), or ignore it. Ignoring it costs nothing and leaks nothing:
/// nothing is allocated unless it is awaited, and awaiting uses a pooled completion.
/// </summary>
public readonly struct SendResult
{
    // The session and the end position of the send; or the region of sends held behind a streamed frame and the
    // end offset within it; or the exception that refused the send.
    private readonly object? _target;
    private readonly long _position;

    internal SendResult(Session session, long position)
    {
        _target = session;
        _position = position;
    }

    internal SendResult(Session.HeldSends held, long offset)
    {
        _target = held;
        _position = offset;
    }

    private SendResult(Exception error)
    {
        _target = error;
        _position = 0;
    }

    internal static SendResult Failed(Exception error) => new(error);

    /// <summary>True when the send was refused at once (session closed, queue full, frame too large).</summary>
    public bool IsRejected => _target is Exception;

    /// <summary>Completes when the bytes have been written to the transport, or faults with
    /// <see cref="SessionClosedException"/> / <see cref="SendRejectedException"/> when they will not be. Await it once;
    /// call again for another awaitable. Allocates nothing when awaited.</summary>
    public ValueTask AsValueTask() => Completion(asTask: false);

    /// <summary>The completion as a task: completed as soon as the bytes are written (see <see cref="AsValueTask"/>).</summary>
    public Task AsTask() => Completion(asTask: true).AsTask();

    private ValueTask Completion(bool asTask) => _target switch
    {
        null => default,
        Session session => session.WhenSent(_position, asTask),
        Exception error => ValueTask.FromException(error),
        _ => ((Session.HeldSends)_target).Session.WhenHeldSent((Session.HeldSends)_target, _position, asTask),
    };

    /// <summary>The completion as a one-element observable (<see cref="Unit"/>, then completed).</summary>
    public IObservable<Unit> ToObservable() => AsTask().ToObservable();

    /// <summary>Lets <c>await session.Send(...)</c> work.</summary>
    public ValueTaskAwaiter GetAwaiter() => AsValueTask().GetAwaiter();
}

/// <summary>A send could not complete because its session closed first.</summary>
public sealed class SessionClosedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SessionClosedException(CloseReason reason)
        : base($"The session closed before the data was sent ({reason}).", reason.Exception) => Reason = reason;

    /// <summary>Why the session closed.</summary>
    public CloseReason Reason { get; }
}

/// <summary>Why a send was refused without being queued.</summary>
public enum SendRejection
{
    /// <summary>No connection is open (a client between connections).</summary>
    NotConnected,
    /// <summary>The send queue was over its byte bound and the policy is <see cref="SendQueueFullPolicy.Reject"/>.</summary>
    QueueFull,
    /// <summary>The payload is larger than the framing's maximum frame size.</summary>
    TooLarge,
}

/// <summary>A send was refused at once and nothing was queued.</summary>
public sealed class SendRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SendRejectedException(SendRejection rejection, string message) : base(message) => Rejection = rejection;

    /// <summary>Why the send was refused.</summary>
    public SendRejection Rejection { get; }
}
