using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// A client whose connections are a stream: it connects, reconnects with back-off when the connection ends
/// (unless told not to), and forwards the frames of every connection to one <see cref="Frames"/> stream.
/// <see cref="NetworkClient"/> (TCP, UDP, KCP) and <see cref="SerialPortClient"/> are clients of this kind.
/// </summary>
/// <remarks>
/// All of a client's connections are pinned to one scheduler, so <see cref="Frames"/>, <see cref="Connections"/>
/// and <see cref="Disconnects"/> are delivered on it, one at a time. All three are hot and complete when the client
/// is disposed. Connect timeout and back-off run on that scheduler too, so a <c>TestScheduler</c> drives them.
/// </remarks>
public abstract class ReconnectingClient : IDisposable, IAsyncDisposable
{
    private readonly SessionSettings _settings;
    private readonly IScheduler _scheduler;
    private readonly Subject<Session> _connections = new();
    private readonly Subject<Frame> _frames = new();
    private readonly Subject<CloseReason> _disconnects = new();
    private readonly ReconnectOptions _reconnect;
    private readonly TimeSpan _connectTimeout;
    private AsyncSubject<Session>? _firstConnection;
    private Session? _current;
    private int _failuresInARow;
    private bool _stopped;
    private Attempt? _attempt;
    private IDisposable? _retryTimer;
    private TaskCompletionSource? _disposed;

    private protected ReconnectingClient(SessionSettings settings, TimeSpan connectTimeout, ReconnectOptions reconnect)
    {
        _settings = settings;
        _scheduler = settings.Schedulers.Next();
        _reconnect = reconnect;
        _connectTimeout = connectTimeout;
    }

    internal SessionSettings Settings => _settings;

    /// <summary>Opens one connection and returns its session, not yet started. Runs off the scheduler; honour the token.</summary>
    private protected abstract ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken);

    /// <summary>A short description of what the client connects to, for logs.</summary>
    private protected abstract string TargetName { get; }

    /// <summary>The scheduler every connection of this client is pinned to.</summary>
    public IScheduler Scheduler => _scheduler;

    /// <summary>Each established connection, hot. Subscribe inside it to see the connection's first frame.</summary>
    public IObservable<Session> Connections => _connections.AsObservable();

    /// <summary>Frames of every connection, hot; survives reconnects. Completes when the client is disposed.</summary>
    public IObservable<Frame> Frames => _frames.AsObservable();

    /// <summary>Every end of a connection and every failed attempt, with its reason
    /// (<see cref="CloseKind.ConnectTimeout"/> and <see cref="CloseKind.ConnectFailed"/> for attempts).</summary>
    public IObservable<CloseReason> Disconnects => _disconnects.AsObservable();

    /// <summary>The current connection, or null between connections.</summary>
    public Session? Session => Volatile.Read(ref _current);

    /// <summary>True while a connection is open.</summary>
    public bool IsConnected => Session is { IsOpen: true };

    /// <summary>Starts the connect/reconnect loop once; returns the first connection (see the derived Connect/Open).</summary>
    private protected IObservable<Session> StartConnecting()
    {
        var first = new AsyncSubject<Session>();
        if (Interlocked.CompareExchange(ref _firstConnection, first, null) is not null)
            throw new InvalidOperationException("This client was already started; create another client for another target.");
        _scheduler.Schedule(this, static (_, c) => { c.StartAttempt(); return Disposable.Empty; });
        return first.AsObservable();
    }

    /// <summary>Sends on the current connection; rejected with <see cref="SendRejection.NotConnected"/> between connections.</summary>
    public SendResult Send(ReadOnlySpan<byte> data) => Session is { } s ? s.Send(data) : NotConnected();

    /// <summary>Sends on the current connection.</summary>
    public SendResult Send(ReadOnlyMemory<byte> data) => Session is { } s ? s.Send(data) : NotConnected();

    /// <summary>Sends on the current connection.</summary>
    public SendResult Send(byte[] data) => Session is { } s ? s.Send(data) : NotConnected();

    /// <summary>Sends UTF-8 text on the current connection.</summary>
    public SendResult Send(string text) => Session is { } s ? s.Send(text) : NotConnected();

    private static SendResult NotConnected() =>
        SendResult.Failed(new SendRejectedException(SendRejection.NotConnected, "the client is not connected"));

    // ---- state machine; every method below runs on _scheduler ----

    private void StartAttempt()
    {
        if (_stopped) return;
        _retryTimer = null;
        var attempt = new Attempt(this);
        _attempt = attempt;
        attempt.Timer = _scheduler.Schedule(attempt, _connectTimeout, static (_, a) =>
        {
            a.Client.AttemptFailed(a, new CloseReason(CloseKind.ConnectTimeout, null, $"not connected after {a.Client._connectTimeout.TotalMilliseconds:0} ms"));
            return Disposable.Empty;
        });
        _ = RunAttemptAsync(attempt);
    }

    private async Task RunAttemptAsync(Attempt attempt)
    {
        try
        {
            var session = await ConnectSessionAsync(attempt.Cancel.Token).ConfigureAwait(false);
            _scheduler.Schedule((attempt, session), static (_, st) => { st.attempt.Client.AttemptSucceeded(st.attempt, st.session); return Disposable.Empty; });
        }
        catch (Exception ex)
        {
            // A connector that knows better (a failed handshake) throws ConnectException with its own reason.
            var reason = ex is ConnectException { Reason: var own } ? own : new CloseReason(CloseKind.ConnectFailed, ex, ex.Message);
            _scheduler.Schedule((attempt, reason), static (_, st) => { st.attempt.Client.AttemptFailed(st.attempt, st.reason); return Disposable.Empty; });
        }
    }

    private void AttemptSucceeded(Attempt attempt, Session session)
    {
        if (!attempt.Finish() || _stopped)
        {
            session.Discard();
            return;
        }
        session.Frames.Subscribe(_frames.OnNext);
        session.Finished = OnSessionFinished;
        Volatile.Write(ref _current, session);
        Asio2Log.Connected(_settings.Logger, session);
        try
        {
            _connections.OnNext(session);
        }
        catch (Exception ex)
        {
            _settings.Metrics.UserCodeFault(_settings.Transport);
            Asio2Log.ConnectionsSubscriberFailed(_settings.Logger, ex, session);
            session.Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
        }
        session.Start();
        // Only now does Connect() complete: whoever awaited it may send at once, and the reply must find the
        // session reading (a UDP reply racing Start was dropped before this order).
        if (_firstConnection is { IsCompleted: false } first)
        {
            first.OnNext(session);
            first.OnCompleted();
        }
    }

    private void AttemptFailed(Attempt attempt, CloseReason reason)
    {
        if (!attempt.Finish()) return;
        Asio2Log.ConnectFailed(_settings.Logger, TargetName, reason);
        _disconnects.OnNext(reason);
        _failuresInARow++;
        if (_stopped) return;
        bool retry = _reconnect.Enabled && (_reconnect.MaxAttempts is not { } max || _failuresInARow < max);
        if (retry)
        {
            ScheduleRetry(_reconnect.DelayBefore(_failuresInARow));
        }
        else if (_firstConnection is { IsCompleted: false } first)
        {
            first.OnError(new ConnectException(reason));
        }
    }

    private void OnSessionFinished(Session session)
    {
        Volatile.Write(ref _current, null);
        var reason = session.CloseReason!;
        _disconnects.OnNext(reason);
        if (_stopped)
        {
            CompleteStreams();
            return;
        }
        // A close asked for by this side is not a reason to reconnect.
        if (!_reconnect.Enabled || reason.IsLocal) return;
        // A connection whose handshake failed never worked: it counts as a failed attempt, so the back-off grows
        // (an untrusted certificate is not retried every second forever). Any other end resets the back-off.
        if (reason.Kind is CloseKind.HandshakeFailed or CloseKind.HandshakeTimeout)
        {
            _failuresInARow++;
            if (_reconnect.MaxAttempts is { } max && _failuresInARow >= max) return;
            ScheduleRetry(_reconnect.DelayBefore(_failuresInARow));
            return;
        }
        _failuresInARow = 0;
        ScheduleRetry(_reconnect.DelayBefore(1));
    }

    private void ScheduleRetry(TimeSpan delay) =>
        _retryTimer = _scheduler.Schedule(this, delay, static (_, c) => { c.StartAttempt(); return Disposable.Empty; });

    private void CompleteStreams()
    {
        _connections.OnCompleted();
        _frames.OnCompleted();
        _disconnects.OnCompleted();
        if (_firstConnection is { IsCompleted: false } first)
            first.OnError(new ConnectException(new CloseReason(CloseKind.Stopped, null, "the client was disposed before it connected")));
        _disposed?.TrySetResult();
    }

    /// <summary>Stops reconnecting, closes the current connection gracefully and completes every stream.</summary>
    public Task DisconnectAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _disposed, done, null) is { } existing) return existing.Task;
        _scheduler.Schedule(this, static (_, c) =>
        {
            c._stopped = true;
            c._retryTimer?.Dispose();
            if (c._attempt is { } a && a.Finish()) a.Cancel.Cancel();
            if (c._current is { } s) s.Shutdown(new CloseReason(CloseKind.LocalClose), graceful: true);
            else c.CompleteStreams();
            return Disposable.Empty;
        });
        return done.Task;
    }

    /// <summary>Starts <see cref="DisconnectAsync"/> and returns at once (it never blocks on the network or on the
    /// scheduler); the streams complete when it is done. Await <see cref="DisposeAsync"/> to wait for that.</summary>
    public void Dispose() => _ = DisconnectAsync();

    /// <summary>Same as <see cref="DisconnectAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(DisconnectAsync());

    /// <summary>One connection attempt; exactly one of success, failure and timeout finishes it.</summary>
    private sealed class Attempt(ReconnectingClient client)
    {
        private int _finished;
        public ReconnectingClient Client { get; } = client;
        public CancellationTokenSource Cancel { get; } = new();
        public IDisposable? Timer { get; set; }

        public bool Finish()
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0) return false;
            Timer?.Dispose();
            Cancel.Cancel();
            return true;
        }
    }
}

/// <summary>A client could not connect (and will not retry).</summary>
public sealed class ConnectException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConnectException(CloseReason reason) : base($"Could not connect: {reason}", reason.Exception) => Reason = reason;

    /// <summary>Why the last attempt failed.</summary>
    public CloseReason Reason { get; }
}
