using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// Receives one packet emitted by <see cref="Kcp.Update"/> or <see cref="Kcp.Flush"/>: one UDP
/// datagram holding one or more segments.
/// </summary>
/// <param name="packet">The packet. Valid only during the call: copy it to keep it.</param>
/// <param name="state">The state object given to the <see cref="Kcp"/> constructor.</param>
internal delegate void KcpOutput(ReadOnlySpan<byte> packet, object? state);

/// <summary>
/// One KCP endpoint: the ARQ state machine of the reference ikcp
/// (skywind3000/kcp@fbd716b), reproduced call for call so that, driven by the same calls, it
/// emits the same packets byte for byte and returns the same values
/// (<c>shared/kcp/PROTOCOL.md</c>, checked against <c>shared/kcp/vectors</c>).
/// </summary>
/// <remarks>
/// <para>
/// Pure and synchronous: no socket, no clock, no scheduler. Time enters only through
/// <see cref="Update"/> and <see cref="Check"/> (milliseconds, any origin, wrapping modulo 2^32);
/// packets leave only through the <see cref="KcpOutput"/> callback, and only during
/// <see cref="Update"/> and <see cref="Flush"/>. A driver calls <see cref="Update"/> at the time
/// <see cref="Check"/> returns, and again after <see cref="Send"/> or <see cref="Input"/> when it
/// wants data or acknowledgements out before then.
/// </para>
/// <para>
/// Not thread-safe: one endpoint belongs to one session, driven from that session's scheduler.
/// The output callback must not call back into the same endpoint.
/// </para>
/// <para>
/// Return values follow ikcp: 0 or a byte count on success, small negative codes on failure,
/// documented per method. Configuration calls (<see cref="NoDelay"/>, <see cref="SetWindowSize"/>,
/// <see cref="SetMtu"/>, <see cref="SetInterval"/>) ignore the arguments the reference ignores.
/// </para>
/// </remarks>
internal sealed partial class Kcp : IDisposable
{
    // Wire commands (PROTOCOL.md "Wire format").
    internal const byte CmdPush = 81;
    internal const byte CmdAck = 82;
    internal const byte CmdWask = 83;
    internal const byte CmdWins = 84;

    /// <summary>Bytes of a segment header.</summary>
    internal const int Overhead = 24;

    // PROTOCOL.md "Constants".
    private const uint RtoNoDelayMin = 30;
    private const uint RtoMin = 100;
    private const int RtoDefault = 200;
    private const uint RtoMax = 60_000;
    private const uint SendWindowDefault = 32;
    private const uint ReceiveWindowDefault = 128;
    private const int MtuDefault = 1400;
    private const int MtuMin = 50;
    private const uint IntervalDefault = 100;
    private const uint DeadLinkDefault = 20;
    private const uint ThreshInit = 2;
    private const uint ThreshMin = 2;
    private const uint ProbeInit = 5_000;
    private const uint ProbeLimit = 120_000;
    private const int FastAckLimitDefault = 5;

    /// <summary>
    /// The most fragments one message may take, and the most segments one stream-mode send may add:
    /// the reference's fixed receive-window constant, not the peer's actual window
    /// (PROTOCOL.md "send").
    /// </summary>
    private const int FragmentLimit = 128;

    // Probe flags (PROTOCOL.md "State of one endpoint").
    private const uint AskSend = 1;
    private const uint AskTell = 2;

    /// <summary>At most this many free segment objects are kept for reuse.</summary>
    private const int SegmentPoolLimit = 256;

    private readonly KcpOutput _output;
    private readonly object? _outputState;

    private readonly KcpSegmentList _sndQueue = new();
    private readonly KcpSegmentList _sndBuf = new();
    private readonly KcpSegmentList _rcvBuf = new();
    private readonly KcpSegmentList _rcvQueue = new();
    private readonly Stack<KcpSegment> _segmentPool = new();

    // Pending acknowledgements as (sn, ts) pairs, in arrival order.
    private uint[] _ackList = new uint[16];
    private int _ackCount;

    // Where flush packs segments into packets.
    private byte[] _buffer;

    private uint _mtu;
    private uint _mss;
    private uint _sndUna;
    private uint _sndNxt;
    private uint _rcvNxt;
    private uint _ssthresh;
    private int _rxRttVal;
    private int _rxSrtt;
    private int _rxRto;
    private int _rxMinRto;
    private uint _sndWnd;
    private uint _rcvWnd;
    private uint _rmtWnd;
    private uint _cwnd;
    private uint _probe;
    private uint _current;
    private uint _interval;
    private uint _tsFlush;
    private uint _xmit;
    private bool _updated;
    private uint _tsProbe;
    private uint _probeWait;
    private uint _incr;
    private int _bytesInFlight;
    private int _nodelay;
    private int _fastResend;
    private bool _noCwnd;
    private bool _disposed;

    /// <summary>Creates an endpoint with the reference defaults (PROTOCOL.md "State of one endpoint").</summary>
    /// <param name="conv">Conversation id; both ends must use the same.</param>
    /// <param name="output">Called with every packet to send.</param>
    /// <param name="outputState">Passed to <paramref name="output"/> so that it can be a static lambda.</param>
    internal Kcp(uint conv, KcpOutput output, object? outputState = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        Conv = conv;
        _output = output;
        _outputState = outputState;
        _mtu = MtuDefault;
        _mss = _mtu - Overhead;
        _buffer = RentFlushBuffer(_mtu);
        _sndWnd = SendWindowDefault;
        _rcvWnd = ReceiveWindowDefault;
        _rxMinRto = (int)RtoMin;
        _interval = IntervalDefault;
        FastLimit = FastAckLimitDefault;
        DeadLink = DeadLinkDefault;
        ResetState();
    }

    /// <summary>The conversation id.</summary>
    internal uint Conv { get; }

    /// <summary>Maximum packet size in bytes (ikcp's mtu). Defaults to 1400.</summary>
    internal int Mtu => (int)_mtu;

    /// <summary>Maximum payload of one segment: <see cref="Mtu"/> − 24.</summary>
    internal int Mss => (int)_mss;

    /// <summary>Internal update interval in ms (10..5000). Defaults to 100.</summary>
    internal int Interval => (int)_interval;

    /// <summary>The send window in segments. Defaults to 32.</summary>
    internal int SendWindow => (int)_sndWnd;

    /// <summary>The receive window in segments, never below 128. Defaults to 128.</summary>
    internal int ReceiveWindow => (int)_rcvWnd;

    /// <summary>The window the peer last advertised, in segments.</summary>
    internal int RemoteWindow => (int)_rmtWnd;

    /// <summary>The congestion window in segments (ikcp's cwnd field).</summary>
    internal int CongestionWindow => (int)_cwnd;

    /// <summary>The current retransmission timeout in ms (ikcp's rx_rto).</summary>
    internal int RetransmitTimeout => _rxRto;

    /// <summary>The smoothed round-trip time in ms (ikcp's rx_srtt); 0 before the first sample.</summary>
    internal int SmoothedRtt => _rxSrtt;

    /// <summary>
    /// Lower bound of the retransmission timeout in ms (ikcp's rx_minrto). Defaults to 100;
    /// <see cref="NoDelay"/> overwrites it (30 with nodelay, 100 without), so set it afterwards.
    /// </summary>
    internal int MinRto
    {
        get => _rxMinRto;
        set => _rxMinRto = value;
    }

    /// <summary>
    /// A segment is fast-resent only while its transmission count is at most this; 0 or less means no
    /// limit. Defaults to 5.
    /// </summary>
    internal int FastLimit { get; set; }

    /// <summary>Transmissions of one segment after which the link is declared dead. Defaults to 20.</summary>
    internal uint DeadLink { get; set; }

    /// <summary>
    /// Stream mode: message boundaries are not kept, small sends merge into the open tail segment and
    /// <see cref="Receive"/> returns one segment at a time. Both ends must agree. Defaults to false.
    /// </summary>
    internal bool StreamMode { get; set; }

    /// <summary>
    /// ikcp's state field: 0, or 0xFFFFFFFF once a segment has been sent <see cref="DeadLink"/> times.
    /// It never returns to 0.
    /// </summary>
    internal uint State { get; private set; }

    /// <summary>True once a segment has been sent <see cref="DeadLink"/> times: the peer is gone.</summary>
    internal bool IsDeadLink => State == uint.MaxValue;

    /// <summary>Retransmissions caused by timeouts so far (ikcp's xmit).</summary>
    internal uint TimeoutRetransmissions => _xmit;

    /// <summary>ikcp's rx_rttval: the smoothed mean deviation of the round-trip time in ms.</summary>
    internal int RttVariance => _rxRttVal;

    // Statistics beyond ikcp's fields: cumulative since the endpoint was created (a Reset keeps them). Written by the
    // owning scheduler only; a 64-bit read from another thread is whole, if not in step with the other fields.

    /// <summary>PUSH segments transmitted: first transmissions and retransmissions.</summary>
    internal long SegmentsSentTotal;

    /// <summary>Retransmissions because a segment's timeout passed.</summary>
    internal long TimeoutRetransmitsTotal;

    /// <summary>Fast retransmissions: a segment skipped by enough later acknowledgements.</summary>
    internal long FastRetransmitsTotal;

    /// <summary>Round-trip samples taken from acknowledgements.</summary>
    internal long RttSamples;

    /// <summary>Payload bytes sent and not yet acknowledged (snd_buf).</summary>
    internal int BytesInFlight => _bytesInFlight;

    /// <summary>Segments sent and not yet acknowledged (snd_buf).</summary>
    internal int SegmentsInFlight => _sndBuf.Count;

    /// <summary>Segments queued or in flight, not yet acknowledged (ikcp_waitsnd).</summary>
    internal int WaitSnd => _sndBuf.Count + _sndQueue.Count;

    /// <summary>
    /// Sets the timing and congestion knobs (ikcp_nodelay). Each argument applies only if it is 0 or
    /// more. Presets: normal (0, 40, 0, 0), fast (1, 10, 2, 1); see <see cref="KcpPreset"/>.
    /// </summary>
    /// <param name="nodelay">0 normal: timeouts double, rto floor 100 ms, first resend waits rto + rto/8.
    /// 1: timeouts grow by half, floor 30 ms. 2: timeouts grow by half of rx_rto, floor 30 ms.</param>
    /// <param name="interval">Update interval in ms, clamped to 10..5000.</param>
    /// <param name="resend">Fast resend after this many acks that skip a segment; 0 disables.</param>
    /// <param name="nc">1 turns congestion control off (the window is min(snd_wnd, rmt_wnd)).</param>
    internal void NoDelay(int nodelay, int interval, int resend, int nc)
    {
        if (nodelay >= 0)
        {
            _nodelay = nodelay;
            _rxMinRto = (int)(nodelay != 0 ? RtoNoDelayMin : RtoMin);
        }

        if (interval >= 0)
        {
            SetInterval(interval);
        }

        if (resend >= 0)
        {
            _fastResend = resend;
        }

        if (nc >= 0)
        {
            _noCwnd = nc != 0;
        }
    }

    /// <summary>Sets the update interval (ikcp_interval), clamped to 10..5000 ms.</summary>
    internal void SetInterval(int interval) => _interval = (uint)Math.Clamp(interval, 10, 5000);

    /// <summary>
    /// Sets the windows in segments (ikcp_wndsize). A value of 0 or less leaves that window unchanged;
    /// the receive window never goes below 128, the fragment limit.
    /// </summary>
    internal void SetWindowSize(int sendWindow, int receiveWindow)
    {
        if (sendWindow > 0)
        {
            _sndWnd = (uint)sendWindow;
        }

        if (receiveWindow > 0)
        {
            _rcvWnd = Math.Max((uint)receiveWindow, ReceiveWindowDefault);
        }
    }

    /// <summary>Sets the maximum packet size (ikcp_setmtu).</summary>
    /// <returns>0, or −1 (nothing changed) when <paramref name="mtu"/> is below 50.</returns>
    internal int SetMtu(int mtu)
    {
        ThrowIfDisposed();
        if (mtu < MtuMin)
        {
            return -1;
        }

        byte[] buffer = RentFlushBuffer((uint)mtu);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = buffer;
        _mtu = (uint)mtu;
        _mss = _mtu - Overhead;
        return 0;
    }

    /// <summary>Applies a preset's nodelay arguments and, when it has them, its windows.</summary>
    internal void Apply(KcpPreset preset)
    {
        NoDelay(preset.NoDelay, preset.Interval, preset.FastResend, preset.NoCongestionWindow ? 1 : 0);
        SetWindowSize(preset.SendWindow, preset.ReceiveWindow);
    }

    /// <summary>
    /// Drops everything queued, in flight or received and restarts sequence numbers, timers and the
    /// RTT estimate, keeping the configuration (mtu, windows, nodelay, interval, limits, stream mode).
    /// asio2 does this to a server session when its client repeats the SYN.
    /// </summary>
    internal void Reset()
    {
        ThrowIfDisposed();
        ReleaseAll();
        ResetState();
    }

    /// <summary>Returns every pooled buffer. Later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        ReleaseAll();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _segmentPool.Clear();
    }

    // Everything PROTOCOL.md lists as starting state, except configuration.
    private void ResetState()
    {
        _sndUna = _sndNxt = _rcvNxt = 0;
        _rmtWnd = ReceiveWindowDefault;
        _cwnd = _incr = 0;
        _ssthresh = ThreshInit;
        _probe = _probeWait = _tsProbe = 0;
        _rxSrtt = _rxRttVal = 0;
        _rxRto = RtoDefault;
        _current = 0;
        _tsFlush = IntervalDefault;
        _updated = false;
        _xmit = 0;
        State = 0;
        _ackCount = 0;
    }

    private void ReleaseAll()
    {
        ReleaseList(_sndQueue);
        ReleaseList(_sndBuf);
        _bytesInFlight = 0;
        ReleaseList(_rcvBuf);
        ReleaseList(_rcvQueue);
    }

    private void ReleaseList(KcpSegmentList list)
    {
        while (list.First is { } segment)
        {
            list.Remove(segment);
            FreeSegment(segment);
        }
    }

    // ikcp allocates (mtu + overhead) * 3 bytes; flush emits before a packet would pass mtu, and grows
    // the buffer for a segment queued before a smaller mtu was set.
    private static byte[] RentFlushBuffer(uint mtu) => ArrayPool<byte>.Shared.Rent((int)(mtu + Overhead) * 3);

    private KcpSegment NewSegment(int capacity)
    {
        KcpSegment segment = _segmentPool.Count > 0 ? _segmentPool.Pop() : new KcpSegment();
        segment.EnsureCapacity(capacity);
        return segment;
    }

    private void FreeSegment(KcpSegment segment)
    {
        // The other fields are all set again when the segment is next queued.
        segment.ReturnData();
        if (_segmentPool.Count < SegmentPoolLimit)
        {
            _segmentPool.Push(segment);
        }
    }

    /// <summary>Wrap-safe comparison of sequence numbers and timestamps: (int32)(a − b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Diff(uint later, uint earlier) => (int)(later - earlier);

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            ThrowDisposed();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(Kcp));
}
