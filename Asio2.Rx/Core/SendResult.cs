using System.Reactive;
using System.Reactive.Threading.Tasks;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// The completion of one <c>Send</c>: await it to learn when the bytes were handed to the operating
/// system (or why they never will be), or ignore it. Ignoring it costs nothing and leaks nothing:
/// no task is created unless it is awaited.
/// </summary>
public readonly struct SendResult
{
    private readonly Session? _session;
    private readonly long _position;
    private readonly Exception? _error;

    internal SendResult(Session session, long position)
    {
        _session = session;
        _position = position;
        _error = null;
    }

    private SendResult(Exception error)
    {
        _session = null;
        _position = 0;
        _error = error;
    }

    internal static SendResult Failed(Exception error) => new(error);

    /// <summary>True when the send was refused at once (session closed, queue full, frame too large).</summary>
    public bool IsRejected => _error is not null;

    /// <summary>A task that completes when the bytes have been written to the transport, or faults with
    /// <see cref="SessionClosedException"/> / <see cref="SendRejectedException"/> when they will not be.</summary>
    public Task AsTask()
    {
        if (_error is not null) return Task.FromException(_error);
        if (_session is null) return Task.CompletedTask;
        return _session.WhenSent(_position);
    }

    /// <summary>The completion as a one-element observable (<see cref="Unit"/>, then completed).</summary>
    public IObservable<Unit> ToObservable() => AsTask().ToObservable();

    /// <summary>Lets <c>await session.Send(...)</c> work.</summary>
    public TaskAwaiter GetAwaiter() => AsTask().GetAwaiter();
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
