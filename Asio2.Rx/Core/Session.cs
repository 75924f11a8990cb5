using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// One connection (or, for UDP, one remote endpoint): its identity, its received <see cref="Frames"/>, its
/// <see cref="Closed"/> reason, and a thread-safe <see cref="Send(ReadOnlySpan{byte})"/>. Every transport's
/// sessions are this type; the mechanisms here (send queue, receive back-pressure, scheduler pinning, close
/// reasons) are shared by all of them.
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> A session is pinned to one <see cref="Scheduler"/>. <see cref="Frames"/>, <see cref="Closed"/>
/// and session timers are delivered on it, never concurrently. <c>Send</c>, <c>Close</c> and <c>Abort</c> may be
/// called from any thread.</para>
/// <para><b>Hot streams.</b> <see cref="Frames"/> is hot: a subscriber sees frames that arrive after it subscribed.
/// Reading starts only after the session was announced (a server's <c>Sessions</c>, a client's <c>Connections</c>),
/// so subscribing inside that notification sees the first frame. <see cref="Frames"/> completes (never errors)
/// when the session ends; <see cref="Closed"/> then delivers the reason, and replays it to late subscribers.</para>
/// </remarks>
public abstract partial class Session : IDisposable
{
    private static long s_nextId;

    private readonly HotStream<Frame> _frames = new();
    private readonly AsyncSubject<CloseReason> _closed = new();
    private readonly IObservable<CloseReason> _closedView;
    private CloseReason? _closeReason;
    private int _transportClosed;
    private bool _finished; // touched only on the scheduler
    private long _lastActivityTicks;
    private long _bytesReceived;
    private long _framesReceived;
    private IDisposable? _silenceTimer;
    private int _metricsState; // 0 new, 1 counted open, 2 finished

    private protected Session(SessionSettings settings, IScheduler scheduler)
    {
        Settings = settings;
        Scheduler = scheduler;
        Logger = settings.Logger;
        Id = Interlocked.Increment(ref s_nextId);
        _closedView = _closed.AsObservable();
        _lastActivityTicks = scheduler.Now.UtcTicks;
        _readLimit = settings.ReadRateLimit is { } readLimit ? new TokenBucket(readLimit, scheduler) : null;
        _sendQueue = new SendQueue(this);
    }

    internal SessionSettings Settings { get; }

    internal ILogger Logger { get; }

    /// <summary>A process-wide unique, increasing id.</summary>
    public long Id { get; }

    /// <summary>The scheduler this session is pinned to; everything it raises is delivered here.</summary>
    public IScheduler Scheduler { get; }

    /// <summary>The local address of the connection, when the transport has one.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address, when the transport has one.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>The transport's name: "tcp", "tls", "udp", "kcp", "serial", "memory".</summary>
    public string Transport => Settings.Transport;

    /// <summary>Received frames, hot, on <see cref="Scheduler"/>. Completes when the session ends; never errors.</summary>
    public IObservable<Frame> Frames => _frames;

    /// <summary>The reason the session ended: one value, then completion. Replayed to late subscribers.</summary>
    public IObservable<CloseReason> Closed => _closedView;

    /// <summary>The close reason once the session has started closing; null while open.</summary>
    public CloseReason? CloseReason => Volatile.Read(ref _closeReason);

    /// <summary>True until the session starts closing.</summary>
    public bool IsOpen => Volatile.Read(ref _closeReason) is null;

    /// <summary>Per-session application state (asio2's <c>user_data</c>). The library never reads it.</summary>
    public object? UserData { get; set; }

    /// <summary>Bytes received from the transport.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Frames delivered to subscribers.</summary>
    public long FramesReceived => Volatile.Read(ref _framesReceived);

    /// <summary>When bytes last arrived (scheduler time); the session's start time before that.</summary>
    public DateTimeOffset LastActivity => new(Volatile.Read(ref _lastActivityTicks), TimeSpan.Zero);

    /// <summary>Sends the bytes as one frame (with the framing's header, if it has one). Thread-safe, ordered and non-blocking.</summary>
    public SendResult Send(ReadOnlySpan<byte> data) => _sendQueue.Enqueue(data);

    /// <summary>Sends the bytes as one message of <paramref name="kind"/>. Message transports that carry a kind
    /// (WebSocket) send it; the others send the bytes as <see cref="Send(ReadOnlySpan{byte})"/> does.</summary>
    public SendResult Send(ReadOnlySpan<byte> data, FrameKind kind) => _sendQueue.Enqueue(data, kind);

    /// <summary>Sends the bytes as one frame. The bytes are copied before this returns.</summary>
    public SendResult Send(ReadOnlyMemory<byte> data) => _sendQueue.Enqueue(data.Span);

    /// <summary>Sends the bytes as one frame. The bytes are copied before this returns.</summary>
    public SendResult Send(byte[] data) => _sendQueue.Enqueue(data);

    /// <summary>Sends the UTF-8 bytes of <paramref name="text"/> as one frame (add the delimiter yourself when the framing
    /// has one); transports that carry a kind (WebSocket) send it as a <see cref="FrameKind.Text"/> message.</summary>
    public SendResult Send(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 1024)
        {
            Span<byte> tmp = stackalloc byte[max];
            return _sendQueue.Enqueue(tmp[..Encoding.UTF8.GetBytes(text, tmp)], FrameKind.Text);
        }
        return _sendQueue.Enqueue(Encoding.UTF8.GetBytes(text), FrameKind.Text);
    }

    /// <summary>Closes gracefully: stops accepting sends, writes what is queued (within the drain timeout), then
    /// closes the connection. <see cref="Closed"/> reports <see cref="CloseKind.LocalClose"/>.</summary>
    public void Close() => Shutdown(new CloseReason(CloseKind.LocalClose), graceful: true);

    /// <summary>Closes at once, dropping queued sends. <see cref="Closed"/> reports <see cref="CloseKind.LocalAbort"/>.</summary>
    public void Abort() => Shutdown(new CloseReason(CloseKind.LocalAbort), graceful: false);

    /// <summary>Same as <see cref="Close"/>.</summary>
    public void Dispose() => Close();

    /// <summary>
    /// Hands the connection over to a new owner (an HTTP <c>Upgrade</c>, a STARTTLS-style switch, a protocol sniffer):
    /// reading stops after the current frame (frames after it in the same read are not delivered; their bytes go into
    /// <see cref="DetachedConnection.Buffered"/>), queued sends are written, then the session closes with
    /// <see cref="CloseKind.Upgraded"/> without closing the connection, and the task completes with it.
    /// </summary>
    /// <remarks>Call it from a <see cref="Frames"/> handler, or while reading is held (<see cref="HoldReading"/>);
    /// otherwise the hand-over waits for the read in progress, whose bytes all go into
    /// <see cref="DetachedConnection.Buffered"/>. Fails if the session closes first (or the drain timeout passes).</remarks>
    /// <exception cref="NotSupportedException">The session is not over a byte stream (UDP, KCP).</exception>
    /// <exception cref="InvalidOperationException">The session is already being detached.</exception>
    public Task<DetachedConnection> DetachAsync() => DetachCoreAsync();

    private protected virtual Task<DetachedConnection> DetachCoreAsync() =>
        throw new NotSupportedException($"A {Transport} session cannot be detached: it is not over a byte stream.");

    /// <inheritdoc/>
    public override string ToString() => $"{Transport} session {Id} {RemoteEndPoint}";

    /// <summary>Invoked once, on the scheduler, after the session's streams completed. Owners unregister here.</summary>
    internal Action<Session>? Finished { get; set; }

    /// <summary>Starts the transport's I/O. Owners call this right after announcing the session.</summary>
    internal void Start()
    {
        // Counted open only if it has not finished already (a stop can close a session before it starts), so the
        // active-sessions gauge never goes below zero.
        if (Interlocked.CompareExchange(ref _metricsState, 1, 0) == 0) Asio2Diagnostics.SessionOpened(this);
        if (CurrentSilenceTimeout is { } timeout) ArmSilenceTimer(timeout);
        StartTransport();
    }

    /// <summary>Throws away a session that was never started (a connect that finished after its attempt timed out).</summary>
    internal void Discard()
    {
        if (Interlocked.Exchange(ref _transportClosed, 1) != 0) return;
        try { CloseTransport(abortive: true); }
        catch (Exception ex) { Asio2Log.DiscardFailed(Logger, ex, this); }
    }

    /// <summary>Starts reading (and handshaking, for transports that have one).</summary>
    private protected abstract void StartTransport();

    /// <summary>Closes the transport: gracefully (FIN after queued data) or abortively (RST, drop everything).</summary>
    private protected abstract void CloseTransport(bool abortive);

    /// <summary>Lets a protocol complete a close reason before it is recorded (WebSocket adds the close code it will
    /// send). Must be pure: when two closes race, the loser's result is thrown away.</summary>
    private protected virtual CloseReason CompleteCloseReason(CloseReason reason, bool graceful) => reason;

    /// <summary>Records received bytes for counters, metrics and the silence timeout.</summary>
    private protected void OnBytesReceived(int count)
    {
        Volatile.Write(ref _bytesReceived, _bytesReceived + count);
        Volatile.Write(ref _lastActivityTicks, Scheduler.Now.UtcTicks);
        _readLimit?.Take(count);
        Settings.Metrics.BytesReceived(Transport, count);
    }

    /// <summary>Records <paramref name="reason"/> (completed by the transport) unless a reason was recorded first.</summary>
    private bool TrySetCloseReason(ref CloseReason reason, bool graceful)
    {
        if (Volatile.Read(ref _closeReason) is not null) return false;
        reason = CompleteCloseReason(reason, graceful);
        return Interlocked.CompareExchange(ref _closeReason, reason, null) is null;
    }

    /// <summary>
    /// Ends the session with <paramref name="reason"/>; the first reason wins and later calls do nothing.
    /// Graceful: queued sends are written first (bounded by the drain timeout). Thread-safe.
    /// </summary>
    internal void Shutdown(CloseReason reason, bool graceful)
    {
        if (!TrySetCloseReason(ref reason, graceful))
        {
            // The first reason stands, but an abort cuts a drain in progress short (a host past its shutdown timeout).
            if (!graceful) CloseTransportOnce(abortive: true);
            return;
        }
        Asio2Log.Closing(Logger, this, reason);
        _silenceTimer?.Dispose();
        long drainTo = _sendQueue.Seal();
        if (!graceful || _sendQueue.IsSentThrough(drainTo))
        {
            CloseTransportOnce(abortive: !graceful);
            return;
        }
        // Drain: close when everything queued has been written, or abort when the drain timeout passes first.
        var timer = DetachedTimer.Schedule(Scheduler, Settings.DrainTimeout, this, static s => s.CloseTransportOnce(abortive: true));
        _sendQueue.WhenDrained(drainTo, s =>
        {
            timer.Dispose();
            s.CloseTransportOnce(abortive: false);
        });
    }

    /// <summary>Schedules a shutdown behind the frames already queued for delivery, so they are seen first (used for
    /// end of stream and protocol errors, where the peer's last complete frames still count).</summary>
    private protected void ShutdownAfterPendingFrames(CloseReason reason, bool graceful) =>
        OnSchedulerOrHere((Session: this, Reason: reason, Graceful: graceful), static st => st.Session.Shutdown(st.Reason, st.Graceful));

    /// <summary>Runs <paramref name="action"/> on the scheduler; when the scheduler is gone (its pool was disposed under
    /// the session), here and now: a session must still close and complete its streams.</summary>
    private void OnSchedulerOrHere<TState>(TState state, Action<TState> action)
    {
        try
        {
            Scheduler.Schedule((State: state, Action: action), static (_, st) =>
            {
                st.Action(st.State);
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException)
        {
            action(state);
        }
    }

    private void CloseTransportOnce(bool abortive)
    {
        if (Interlocked.Exchange(ref _transportClosed, 1) != 0) return;
        try
        {
            CloseTransport(abortive);
        }
        catch (Exception ex)
        {
            Asio2Log.TransportCloseFailed(Logger, ex, this);
        }
        OnSchedulerOrHere(this, static s => s.Finish());
    }

    /// <summary>Runs on the scheduler after the transport closed: completes the streams, in order.</summary>
    private void Finish()
    {
        if (_finished) return;
        _finished = true;
        var reason = _closeReason!;
        _sendQueue.Fail(reason);
        ReleaseReader();
        if (Interlocked.Exchange(ref _metricsState, 2) == 1) Asio2Diagnostics.SessionClosed(this, reason);
        if (reason.Kind == CloseKind.Error)
        {
            // An error no other kind explains is unexpected (a bug here or in the platform): with its stack, at Warning.
            Asio2Log.ClosedByUnexpectedError(Logger, reason.Exception, this, reason);
        }
        else if (reason.Kind is not (CloseKind.LocalClose or CloseKind.RemoteClose or CloseKind.Stopped or CloseKind.LocalAbort or CloseKind.Upgraded))
        {
            Asio2Log.Closed(Logger, reason.Exception, this, reason);
        }
        // The owner forgets the session first, so whoever awaits Closed sees it gone from lookups.
        try { Finished?.Invoke(this); }
        catch (Exception ex) { Asio2Log.OwnerCallbackFailed(Logger, ex, this); }
        SafeNotify(static s => s._frames.OnCompleted());
        SafeNotify(static s => { s._closed.OnNext(s._closeReason!); s._closed.OnCompleted(); });
    }

    private void SafeNotify(Action<Session> notify)
    {
        try
        {
            notify(this);
        }
        catch (Exception ex)
        {
            // The session is already closed; there is nothing left to close, so log and count only.
            Settings.Metrics.UserCodeFault(Transport);
            Asio2Log.SubscriberFailedWhileClosing(Logger, ex, this);
        }
    }

    /// <summary>The silence timeout that applies now; a transport may shorten it until the peer has proved itself.</summary>
    private protected virtual TimeSpan? CurrentSilenceTimeout => Settings.SilenceTimeout;

    private void ArmSilenceTimer(TimeSpan timeout)
    {
        _silenceTimer = DetachedTimer.Schedule(Scheduler, timeout, this, static s =>
        {
            if (!s.IsOpen) return;
            if (s.CurrentSilenceTimeout is not { } timeout) return;
            var idle = s.Scheduler.Now - s.LastActivity;
            if (idle >= timeout)
                s.Shutdown(new CloseReason(CloseKind.SilenceTimeout, null, $"nothing received for {idle.TotalMilliseconds:0} ms"), graceful: false);
            else
                s.ArmSilenceTimer(timeout - idle);
        });
        // Closed meanwhile (a Sessions handler may close a session before it starts): Shutdown disposed the old one.
        if (!IsOpen) _silenceTimer.Dispose();
    }
}
