namespace Asio2.Rx;

/// <summary>A named KCP tuning; the individual settings of <see cref="KcpOptions"/> override parts of it.</summary>
public enum KcpMode
{
    /// <summary>What asio2 sets on every KCP session (the default): the fast tuning with windows of 128 segments
    /// (send) and 512 (receive). Use it to talk to asio2 peers.</summary>
    Asio2,

    /// <summary>ikcp's "normal" preset, TCP-like: <c>nodelay(0, 40, 0, 0)</c> (timeouts double, 100 ms minimum, 40 ms
    /// interval, no fast resend, congestion control on), windows 32/128.</summary>
    Normal,

    /// <summary>ikcp's "fast" preset: <c>nodelay(1, 10, 2, 1)</c> (timeouts grow by half, 30 ms minimum, 10 ms interval,
    /// fast resend after 2 skipping acks, no congestion control), windows 32/128.</summary>
    Fast,
}

/// <summary>How a KCP session begins and ends on the wire.</summary>
public enum KcpHandshakeMode
{
    /// <summary>asio2's 12-byte SYN/SYN-ACK agrees on the conv, and a FIN ends the session (the default): talks to
    /// asio2 peers and to other Asio2.Rx programs.</summary>
    Asio2,

    /// <summary>Raw conv, no handshake: the client uses <see cref="KcpClientOptions.Conv"/> from its first segment, and a
    /// server opens a session for the first well-formed KCP segment from a new endpoint and conv. Talks to any plain
    /// ikcp peer (kcp-go, kcp2k, a game server on ikcp). There is no close signal: a session ends by the silence
    /// timeout, a dead link or locally, and nothing proves a peer owns its source address.</summary>
    None,

    /// <summary>asio2's handshake with a stateless cookie round before the SYN-ACK: the server answers a SYN with a
    /// 12-byte cookie bound to the client's address and a time slot and keeps no state until the client echoes it, so
    /// a spoofed source creates nothing and gets nothing larger than it sent. Both ends must use it (asio2 peers do
    /// not); the client cannot ask for a conv. See docs/kcp.md for the design.</summary>
    Cookie,
}

/// <summary>
/// Settings every KCP session has: the KCP tuning (<see cref="Mode"/> and overrides), the message/stream choice and
/// the UDP socket buffers, on top of the <see cref="SessionOptions"/>. Both ends must agree on <see cref="StreamMode"/>;
/// the rest may differ per side.
/// </summary>
/// <remarks>
/// In message mode (the default) every <c>Send</c> is one KCP message and every received message is one frame;
/// <see cref="SessionOptions.Framing"/> is not used. A message may take at most 127 segments: 127 × (<see cref="Mtu"/> − 24)
/// bytes, 174 752 with the default MTU; larger sends are refused with <see cref="SendRejection.TooLarge"/>.
/// </remarks>
public abstract class KcpOptions : SessionOptions
{
    private int _mtu = 1400;
    private int? _sendWindow;
    private int? _receiveWindow;
    private TimeSpan? _interval;
    private int? _noDelay;
    private int? _fastResend;
    private TimeSpan? _minRto;
    private int _deadLinkTransmissions = 20;

    /// <summary>How sessions begin and end: asio2's handshake, or none (raw conv, for plain ikcp peers). Both ends must
    /// agree. Defaults to <see cref="KcpHandshakeMode.Asio2"/>.</summary>
    public KcpHandshakeMode Handshake { get; set; } = KcpHandshakeMode.Asio2;

    /// <summary>The tuning the other settings start from. Defaults to <see cref="KcpMode.Asio2"/>.</summary>
    public KcpMode Mode { get; set; } = KcpMode.Asio2;

    /// <summary>Largest datagram KCP sends, in bytes (ikcp's mtu): a segment carries up to <c>Mtu − 24</c> payload
    /// bytes. Defaults to 1400 (ikcp and asio2), under Ethernet's 1500 with room for IP and UDP headers.</summary>
    public int Mtu
    {
        get => _mtu;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 50); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, UdpLimits.MaxIPv4Payload); _mtu = value; }
    }

    /// <summary>Send window in segments, or null for the mode's (128 for <see cref="KcpMode.Asio2"/>, else 32).
    /// Bounds the data in flight: raise it for long fat links.</summary>
    public int? SendWindow
    {
        get => _sendWindow;
        set { if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThan(v, 1); _sendWindow = value; }
    }

    /// <summary>Receive window in segments (at least 128, ikcp's fragment limit), or null for the mode's (512 for
    /// <see cref="KcpMode.Asio2"/>, else 128).</summary>
    public int? ReceiveWindow
    {
        get => _receiveWindow;
        set { if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThan(v, 1); _receiveWindow = value; }
    }

    /// <summary>KCP's internal flush interval (10..5000 ms), or null for the mode's (10 ms, or 40 ms for
    /// <see cref="KcpMode.Normal"/>).</summary>
    public TimeSpan? Interval
    {
        get => _interval;
        set
        {
            if (value is { } v && (v < TimeSpan.FromMilliseconds(10) || v > TimeSpan.FromMilliseconds(5000)))
                throw new ArgumentOutOfRangeException(nameof(value), v, "The interval must be between 10 and 5000 ms.");
            _interval = value;
        }
    }

    /// <summary>ikcp's nodelay (0: timeouts double, 100 ms minimum; 1: timeouts grow by half, 30 ms minimum; 2: grow by
    /// half the current RTO, 30 ms minimum), or null for the mode's.</summary>
    public int? NoDelay
    {
        get => _noDelay;
        set { if (value is { } v) { ArgumentOutOfRangeException.ThrowIfLessThan(v, 0); ArgumentOutOfRangeException.ThrowIfGreaterThan(v, 2); } _noDelay = value; }
    }

    /// <summary>Resend a segment at once after this many acknowledgements skipped it (0: never), or null for the mode's.</summary>
    public int? FastResend
    {
        get => _fastResend;
        set { if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThan(v, 0); _fastResend = value; }
    }

    /// <summary>Congestion control (slow start, window halving on loss), or null for the mode's (on only for
    /// <see cref="KcpMode.Normal"/>).</summary>
    public bool? CongestionControl { get; set; }

    /// <summary>The retransmission timeout's lower bound, or null for the one <see cref="NoDelay"/> implies
    /// (30 ms with nodelay, 100 ms without).</summary>
    public TimeSpan? MinRto
    {
        get => _minRto;
        set { if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThan(v, TimeSpan.FromMilliseconds(1)); _minRto = value; }
    }

    /// <summary>Transmissions of one segment after which the peer is declared gone and the session closes with
    /// <see cref="CloseKind.DeadLink"/>. Defaults to 20 (ikcp's).</summary>
    public int DeadLinkTransmissions
    {
        get => _deadLinkTransmissions;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _deadLinkTransmissions = value; }
    }

    /// <summary>Stream mode: KCP keeps no message boundaries (small sends share segments), and received bytes are cut
    /// into frames with <see cref="SessionOptions.Framing"/>, as on TCP; sends get the framing's header. Both ends must
    /// agree. Defaults to false (message mode, as asio2).</summary>
    public bool StreamMode { get; set; }

    /// <summary>The socket's kernel receive buffer (SO_RCVBUF), or null for the system default. Defaults to null.</summary>
    public int? SocketReceiveBufferSize { get; set; }

    /// <summary>The socket's kernel send buffer (SO_SNDBUF), or null for the system default. Defaults to null.</summary>
    public int? SocketSendBufferSize { get; set; }

    internal DatagramSocketSettings ResolveSocket(bool dualMode = true) => new(SocketReceiveBufferSize, SocketSendBufferSize, dualMode);

    internal KcpSettings ResolveKcp()
    {
        var preset = Mode switch
        {
            KcpMode.Normal => KcpPreset.Normal,
            KcpMode.Fast => KcpPreset.Fast,
            _ => KcpPreset.Asio2,
        };
        preset = preset with
        {
            NoDelay = _noDelay ?? preset.NoDelay,
            Interval = _interval is { } i ? (int)i.TotalMilliseconds : preset.Interval,
            FastResend = _fastResend ?? preset.FastResend,
            NoCongestionWindow = CongestionControl is { } cc ? !cc : preset.NoCongestionWindow,
            SendWindow = _sendWindow ?? preset.SendWindow,
            ReceiveWindow = _receiveWindow ?? preset.ReceiveWindow,
        };
        return new KcpSettings(preset, _mtu, _minRto is { } m ? (int)m.TotalMilliseconds : null, (uint)_deadLinkTransmissions, StreamMode, Handshake);
    }
}

/// <summary>Settings of a <see cref="KcpServer"/>.</summary>
public class KcpServerOptions : KcpOptions
{
    private int _maxSessions = 10_000;

    /// <summary>Creates the options with the KCP server defaults: a 60 s <see cref="SessionOptions.SilenceTimeout"/> and at most 10 000 sessions.</summary>
    public KcpServerOptions()
    {
        // KCP sends nothing while idle and a vanished client sends no FIN: silent sessions are reaped (asio2's 60 s).
        SilenceTimeout = TimeSpan.FromSeconds(60);
    }

    /// <summary>Handshakes (raw conv: first segments) from new endpoints beyond this many sessions get no reply and
    /// are counted as drops. Defaults to 10 000.</summary>
    public int MaxSessions
    {
        get => _maxSessions;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxSessions = value; }
    }

    /// <summary>When listening on an IPv6 address, accept IPv4 peers too. Defaults to true.</summary>
    public bool DualMode { get; set; } = true;

    private int _convsPerEndpoint = 1;

    /// <summary>Raw conv only: the conversations a server accepts, or null for any. A first segment with another conv
    /// is dropped and counted (<c>kcp_unknown_conv</c>). Defaults to null; set it whenever the convs are known, since
    /// without it any datagram that parses as KCP opens a session.</summary>
    public IReadOnlyCollection<uint>? AllowedConvs { get; set; }

    /// <summary>Raw conv only: conversations one remote endpoint may hold at once; a first segment with a further conv
    /// is dropped and counted (<c>kcp_conv_limit</c>). Defaults to 1, what ikcp peers do (one conv per socket), so a
    /// flood of made-up convs from one endpoint costs at most one session.</summary>
    public int ConvsPerEndpoint
    {
        get => _convsPerEndpoint;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _convsPerEndpoint = value; }
    }
}

/// <summary>Settings of a <see cref="KcpClient"/>.</summary>
public class KcpClientOptions : KcpOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A handshake that got no answer after this long fails with <see cref="CloseKind.ConnectTimeout"/>; the SYN
    /// is resent every 500 ms meanwhile. Defaults to 30 s, asio2's KCP client default.</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _connectTimeout = value; }
    }

    /// <summary>asio2 handshake: the conversation id to ask the server for, or 0 to let the server pick one (its counter
    /// from 1). Raw conv (<see cref="KcpHandshakeMode.None"/>): the conversation id every segment carries, which the
    /// peer must expect. Defaults to 0.</summary>
    public uint Conv { get; set; }

    /// <summary>Reconnection policy. Defaults to enabled, 1 s doubling up to 30 s.</summary>
    public ReconnectOptions Reconnect { get; set; } = new();
}

/// <summary>Resolved KCP tuning: what a session applies to its <see cref="Kcp"/>.</summary>
internal sealed record KcpSettings(KcpPreset Preset, int Mtu, int? MinRto, uint DeadLink, bool StreamMode, KcpHandshakeMode Handshake = KcpHandshakeMode.Asio2)
{
    /// <summary>Raw conv: no handshake and no FIN; every datagram is KCP.</summary>
    public bool RawConv => Handshake == KcpHandshakeMode.None;

    /// <summary>asio2's handshake behind a stateless cookie round.</summary>
    public bool Cookie => Handshake == KcpHandshakeMode.Cookie;

    /// <summary>A new endpoint for <paramref name="conv"/>, configured.</summary>
    public Kcp Create(uint conv, KcpOutput output, object state)
    {
        var kcp = new Kcp(conv, output, state);
        kcp.Apply(Preset);
        kcp.SetMtu(Mtu);
        if (MinRto is { } minRto) kcp.MinRto = minRto; // after Apply: nodelay overwrites it
        kcp.DeadLink = DeadLink;
        kcp.StreamMode = StreamMode;
        return kcp;
    }

    /// <summary>Bytes of payload one segment carries.</summary>
    public int Mss => Mtu - Kcp.Overhead;
}
