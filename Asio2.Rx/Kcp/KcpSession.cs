using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// A KCP session over a <see cref="DatagramChannel"/>: reliable, ordered messages with asio2's handshake around them,
/// or none (raw conv: every datagram is KCP, and no FIN is sent). A server's sessions share the server's channel; a client's session owns its connected channel.
/// </summary>
/// <remarks>
/// <para><b>Thread-safety contract.</b> The <see cref="Kcp"/> engine is not thread-safe, so everything that touches it
/// runs in work items on the session's <see cref="Session.Scheduler"/>, which never runs two at once: draining the inbox
/// (datagrams the receive loop hands over with <see cref="OnDatagram"/>, copied into pooled buffers and queued), the
/// update timer, the write pump and the close. <see cref="OnDatagram"/>, <c>Send</c>, <c>Close</c> and <c>Abort</c> may be
/// called from any thread; they only queue work. A write from a thread that is not running one of this session's work
/// items is marshalled onto the scheduler; a write from inside one (a reply sent from a <c>Frames</c> handler, which runs
/// inside the drain) goes into KCP at once, so the reply and the acknowledgement leave in one datagram, as with asio2.
/// A scheduler that runs work concurrently (<c>ImmediateScheduler</c>) breaks this contract and is not supported.</para>
/// <para><b>Clock.</b> KCP's clock is the scheduler's <see cref="IScheduler.Now"/> in milliseconds. After each drain,
/// write and update, the next update is scheduled for the time <see cref="Kcp.Check"/> gives (at least 1 ms later),
/// and none at all while nothing is unacknowledged: an idle session costs no timer.</para>
/// <para><b>Back-pressure.</b> Sending: the write pump stops taking messages from the send queue while KCP holds more
/// than <see cref="MaxUnacknowledgedSegments"/> segments, and the send queue is bounded in bytes. Receiving: datagrams
/// are dropped (and counted) while more than <see cref="SessionOptions.MaxPendingReceiveBytes"/> wait in the inbox; KCP
/// retransmits them.</para>
/// <para><b>Close.</b> A graceful close hands every queued send to KCP, then keeps the engine running until the peer
/// acknowledged everything (within <see cref="SessionOptions.DrainTimeout"/>), then sends a FIN. Every other close sends
/// the FIN at once, except one caused by the peer's FIN. The owner is told with <see cref="Released"/> when the engine
/// is gone and the channel no longer needed.</para>
/// </remarks>
internal sealed partial class KcpSession : Session, IValueTaskSource
{
    /// <summary>The session whose work item this thread is running, if any.</summary>
    [ThreadStatic] private static KcpSession? t_running;

    private readonly DatagramChannel _channel;
    private readonly SocketAddress _remoteAddress;
    private readonly IPEndPoint _remote;
    private readonly bool _ownsChannel;
    private readonly bool _isServer;
    private readonly KcpSettings _kcpSettings;
    private readonly DropCounter _drops;
    private readonly Kcp _kcp;
    private readonly ConcurrentQueue<(byte[] Buffer, int Length)> _inbox = new();
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _inboxBytes;
    private int _drainScheduled;
    private int _started;
    private volatile bool _isReleased;

    private readonly Dictionary<string, long> _dropsByReason = []; // under its own lock: the receive loop drops too

    // Touched only on the scheduler.
    private KcpInstruments.Reported _reported;
    private bool _kcpStarted;
    private IDisposable? _updateTimer;
    private long _updateDueMs = long.MaxValue;
    private bool _lingering;
    private IDisposable? _lingerTimer;

    public KcpSession(uint conv, DatagramChannel channel, SocketAddress remoteAddress, IPEndPoint remote, bool isServer, bool ownsChannel,
        KcpSettings kcpSettings, DropCounter drops, SessionSettings settings, IScheduler scheduler)
        : base(settings, scheduler)
    {
        Conv = conv;
        _channel = channel;
        _remoteAddress = remoteAddress;
        _remote = remote;
        _isServer = isServer;
        _ownsChannel = ownsChannel;
        _kcpSettings = kcpSettings;
        _drops = drops;
        _kcp = kcpSettings.Create(conv, static (packet, state) => ((KcpSession)state!).Output(packet), this);
        MaxUnacknowledgedSegments = Math.Max(2 * _kcp.SendWindow, 128);
        _streamDecoder = kcpSettings.StreamMode ? settings.Framing.CreateDecoder() : null;
    }

    /// <summary>The conversation id agreed in the handshake.</summary>
    public uint Conv { get; }

    /// <summary>Segments KCP may hold (queued or in flight) before the pump stops taking sends: two send windows, at
    /// least 128, so the window stays full without KCP buffering the whole send queue.</summary>
    public int MaxUnacknowledgedSegments { get; }

    public override EndPoint? LocalEndPoint => _channel.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _remote;

    /// <summary>Called once, on the scheduler, when the engine is disposed and the channel no longer needed.</summary>
    public Action<KcpSession>? Released { get; set; }

    /// <summary>Completes when <see cref="Released"/> has run.</summary>
    public Task ReleasedTask => _released.Task;

    /// <summary>The engine, for tests that look at its state (read it on the scheduler only).</summary>
    internal Kcp Engine => _kcp;

    private static long NowMs(IScheduler scheduler) => scheduler.Now.UtcTicks / TimeSpan.TicksPerMillisecond;

    private uint Clock => unchecked((uint)NowMs(Scheduler));

    private void Output(ReadOnlySpan<byte> packet) => _channel.Send(packet, _remoteAddress);

    private protected override void StartTransport()
    {
        Interlocked.Exchange(ref _started, 1);
        // The first drain starts the engine's clock and takes whatever arrived before the session was announced.
        ScheduleDrain(force: true);
    }

    /// <summary>Called by the receive loop with one datagram from this session's peer; copies it and queues a drain.</summary>
    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        if (_isReleased)
        {
            Drop("session_closed");
            return;
        }
        if (Volatile.Read(ref _inboxBytes) + datagram.Length > Settings.MaxPendingReceiveBytes)
        {
            Drop("receive_backlog"); // KCP resends it once the session catches up
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(datagram.Length, 1));
        datagram.CopyTo(buffer);
        Interlocked.Add(ref _inboxBytes, datagram.Length);
        _inbox.Enqueue((buffer, datagram.Length));
        if (Volatile.Read(ref _started) != 0) ScheduleDrain(force: false);
    }

    /// <summary>Counts a dropped datagram for this session, the owner's counter and the meter.</summary>
    private void Drop(string reason)
    {
        _drops.Drop(reason);
        lock (_dropsByReason) CollectionsMarshal.GetValueRefOrAddDefault(_dropsByReason, reason, out _)++;
    }

    /// <summary>The engine's figures now (see <see cref="KcpSessionExtensions.KcpStats(Session)"/>).</summary>
    internal KcpStats Stats()
    {
        Dictionary<string, long> drops;
        lock (_dropsByReason) drops = new Dictionary<string, long>(_dropsByReason);
        return new KcpStats
        {
            SmoothedRtt = TimeSpan.FromMilliseconds(_kcp.SmoothedRtt),
            RttVariance = TimeSpan.FromMilliseconds(_kcp.RttVariance),
            RetransmitTimeout = TimeSpan.FromMilliseconds(_kcp.RetransmitTimeout),
            RttSamples = Volatile.Read(ref _kcp.RttSamples),
            CongestionWindow = _kcp.CongestionWindow,
            SendWindow = _kcp.SendWindow,
            ReceiveWindow = _kcp.ReceiveWindow,
            RemoteWindow = _kcp.RemoteWindow,
            SegmentsSent = Volatile.Read(ref _kcp.SegmentsSentTotal),
            TimeoutRetransmissions = Volatile.Read(ref _kcp.TimeoutRetransmitsTotal),
            FastRetransmissions = Volatile.Read(ref _kcp.FastRetransmitsTotal),
            SegmentsInFlight = _kcp.SegmentsInFlight,
            BytesInFlight = _kcp.BytesInFlight,
            DroppedDatagrams = drops,
        };
    }

    private void ScheduleDrain(bool force)
    {
        if (Interlocked.Exchange(ref _drainScheduled, 1) != 0 && !force) return;
        Scheduler.Schedule(this, static (_, s) =>
        {
            s.RunOnScheduler(static s => s.Drain());
            return Disposable.Empty;
        });
    }

    /// <summary>Runs <paramref name="work"/> as one of this session's work items (marks the thread, so writes made
    /// meanwhile go into KCP directly).</summary>
    private void RunOnScheduler(Action<KcpSession> work) => RunOnScheduler(work, static (s, w) => w(s));

    /// <inheritdoc cref="RunOnScheduler(Action{KcpSession})"/>
    private void RunOnScheduler<TState>(TState state, Action<KcpSession, TState> work)
    {
        var previous = t_running;
        t_running = this;
        try
        {
            work(this, state);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bug here must close this session, not the scheduler's thread.
            Asio2Log.KcpWorkFailed(Logger, ex, this);
            Settings.Metrics.Error(Transport, "kcp");
            Shutdown(new CloseReason(CloseKind.Error, ex, ex.Message), graceful: false);
        }
        finally
        {
            t_running = previous;
        }
    }

    private void EnsureEngineStarted(uint now)
    {
        if (_kcpStarted) return;
        _kcpStarted = true;
        _kcp.Update(now);
    }

    private void Drain()
    {
        Volatile.Write(ref _drainScheduled, 0); // a datagram queued from now on schedules another drain
        if (_isReleased)
        {
            DiscardInbox("session_closed");
            return;
        }
        uint now = Clock;
        EnsureEngineStarted(now);
        // Refresh KCP's clock first: it stamps acknowledgements and measures RTT with the time of the last update.
        _kcp.Update(now);
        while (_inbox.TryDequeue(out var item))
        {
            Interlocked.Add(ref _inboxBytes, -item.Length);
            try
            {
                if (!Process(item.Buffer.AsSpan(0, item.Length), now)) break;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }
        }
        if (_isReleased) return;
        ReceiveMessages();
        // Acknowledge now rather than at the next interval (and send what a reply queued, if the pump did not yet).
        _kcp.Flush();
        AfterWork(now);
    }

    /// <summary>Handles one datagram; false when the session ended and the rest of the inbox is not for it.</summary>
    private bool Process(ReadOnlySpan<byte> datagram, uint now)
    {
        if (IsOpen is false && !_lingering && CloseReason?.Kind == CloseKind.RemoteClose)
        {
            Drop("session_closed");
            return true;
        }
        if (_kcpSettings.RawConv)
        {
            // No control packets in raw conv: everything is KCP, and anything shorter than a segment is garbage.
            if (datagram.Length < KcpHandshake.MinKcpSize) Drop("kcp_illegal_length");
            else Input(datagram);
            return true;
        }
        switch (KcpHandshake.Classify(datagram.Length))
        {
            case KcpDatagramKind.Kcp:
                Input(datagram);
                return true;

            case KcpDatagramKind.Handshake:
                if (KcpHandshake.IsFin(datagram))
                {
                    OnBytesReceived(datagram.Length);
                    OnPeerFin();
                    return false;
                }
                if (_isServer && KcpHandshake.TryParse(datagram, out var syn)
                    && (KcpHandshake.IsSyn(datagram) || (_kcpSettings.Cookie && KcpCookie.IsEcho(datagram, out _, out _))))
                {
                    // asio2: a repeated SYN gets the same SYN-ACK again and restarts KCP on both sides. In cookie mode
                    // the server passes only a verified ECHO here (its seq is the SYN's).
                    OnBytesReceived(datagram.Length);
                    Span<byte> synAck = stackalloc byte[KcpHandshake.Size];
                    KcpHandshake.WriteSynAck(synAck, Conv, syn.Seq);
                    _channel.Send(synAck, _remoteAddress);
                    _kcp.Reset();
                    _kcp.Update(now);
                    return true;
                }
                Drop(KcpHandshake.IsChecksumValid(datagram) ? "kcp_unexpected_handshake" : "kcp_bad_checksum");
                return true;

            default:
                Drop("kcp_illegal_length");
                return true;
        }
    }

    private void Input(ReadOnlySpan<byte> datagram)
    {
        int result = _kcp.Input(datagram);
        if (result < 0)
        {
            // ikcp: -1 another conv, -2 a segment longer than the datagram, -3 an unknown command.
            Drop(result == -1 ? "kcp_wrong_conv" : result == -2 ? "kcp_truncated" : "kcp_bad_command");
            return;
        }
        OnBytesReceived(datagram.Length);
    }

    private void OnPeerFin()
    {
        if (_lingering)
        {
            Release();
            return;
        }
        // Messages completed before the FIN still count; then the session ends without a reply (asio2).
        ReceiveMessages();
        Shutdown(new CloseReason(CloseKind.RemoteClose, null, "the peer sent a FIN"), graceful: false);
    }

    /// <summary>Common tail of every work item: resume a waiting write, detect a dead link, schedule the next update.</summary>
    private void AfterWork(uint now)
    {
        if (_isReleased) return;
        _reported.Report(_kcp, Settings.Metrics.Kcp);
        if (_kcp.IsDeadLink)
        {
            if (_lingering)
            {
                Release();
                return;
            }
            Shutdown(new CloseReason(CloseKind.DeadLink, null, $"a segment was sent {_kcp.DeadLink} times without an acknowledgement"), graceful: false);
            return;
        }
        Pump();
        if (_lingering && _kcp.WaitSnd == 0)
        {
            SendFin();
            Release();
            return;
        }
        ScheduleUpdate(now);
    }

    private void ScheduleUpdate(uint now)
    {
        if (_isReleased) return;
        if (_kcp.WaitSnd == 0)
        {
            // Nothing unacknowledged: acknowledgements are flushed after every drain, so no update is needed until
            // the next send or datagram.
            _updateTimer?.Dispose();
            _updateTimer = null;
            _updateDueMs = long.MaxValue;
            return;
        }
        long nowMs = NowMs(Scheduler);
        int wait = Math.Max(1, unchecked((int)(_kcp.Check(now) - now)));
        long due = nowMs + wait;
        if (_updateTimer is not null && _updateDueMs <= due) return;
        _updateTimer?.Dispose();
        _updateDueMs = due;
        var delay = TimeSpan.FromTicks(due * TimeSpan.TicksPerMillisecond - Scheduler.Now.UtcTicks);
        _updateTimer = Scheduler.Schedule(this, delay, static (_, s) =>
        {
            s.RunOnScheduler(static s => s.OnUpdateTimer());
            return Disposable.Empty;
        });
    }

    private void OnUpdateTimer()
    {
        _updateTimer = null;
        _updateDueMs = long.MaxValue;
        if (_isReleased) return;
        uint now = Clock;
        _kcp.Update(now);
        // Update flushes only on its interval grid; a retransmission that fell due in between goes out now.
        if (_kcp.Check(now) == now) _kcp.Flush();
        AfterWork(now);
    }

    private protected override void CloseTransport(bool abortive) =>
        Scheduler.Schedule((this, abortive), static (_, st) =>
        {
            st.Item1.RunOnScheduler(st.abortive ? static s => s.CloseOnScheduler(abortive: true) : static s => s.CloseOnScheduler(abortive: false));
            return Disposable.Empty;
        });

    private void CloseOnScheduler(bool abortive)
    {
        if (_isReleased || _lingering) return;
        FailPendingWrite();
        var kind = CloseReason?.Kind;
        if (!abortive && kind is not (CloseKind.RemoteClose or CloseKind.DeadLink) && _kcpStarted && _kcp.WaitSnd > 0)
        {
            // Graceful: everything queued is in KCP; keep resending until the peer has it all, then FIN.
            _lingering = true;
            _lingerTimer = Scheduler.Schedule(this, Settings.DrainTimeout, static (_, s) =>
            {
                s.RunOnScheduler(static s =>
                {
                    if (s._isReleased) return;
                    s.SendFin();
                    s.Release();
                });
                return Disposable.Empty;
            });
            ScheduleUpdate(Clock);
            return;
        }
        if (kind is not CloseKind.RemoteClose) SendFin();
        Release();
    }

    private void SendFin()
    {
        if (_kcpSettings.RawConv) return; // plain ikcp has no close signal; the peer's silence timeout ends its side
        Span<byte> fin = stackalloc byte[KcpHandshake.Size];
        KcpHandshake.WriteFin(fin);
        _channel.Send(fin, _remoteAddress);
    }

    private void Release()
    {
        if (_isReleased) return;
        _isReleased = true;
        _lingering = false;
        _updateTimer?.Dispose();
        _lingerTimer?.Dispose();
        FailPendingWrite();
        _reported.Release(Settings.Metrics.Kcp);
        _kcp.Dispose();
        ReleaseReceiveBuffers();
        DiscardInbox(null);
        if (_ownsChannel) _channel.Dispose();
        try
        {
            Released?.Invoke(this);
        }
        catch (Exception ex)
        {
            Asio2Log.KcpReleaseFailed(Logger, ex, this);
        }
        _released.TrySetResult();
    }

    private void DiscardInbox(string? reason)
    {
        while (_inbox.TryDequeue(out var item))
        {
            Interlocked.Add(ref _inboxBytes, -item.Length);
            ArrayPool<byte>.Shared.Return(item.Buffer);
            if (reason is not null) Drop(reason);
        }
    }
}
