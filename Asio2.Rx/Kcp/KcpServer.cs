using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx;

/// <summary>
/// A KCP server (reliable UDP), wire-compatible with asio2's <c>udp_server</c> + <c>use_kcp</c>: one UDP socket, a
/// handshake per remote endpoint, and a <see cref="Session"/> per endpoint with the same API as TCP.
/// </summary>
/// <example>
/// <code>
/// await using var server = new KcpServer();
/// server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Data)); // echo
/// IPEndPoint bound = server.Start("127.0.0.1", 0);
/// </code>
/// </example>
/// <remarks>
/// <para><b>Handshake (asio2's).</b> A session starts with a valid SYN (12 bytes, flags SYN, asio2's checksum): the
/// server answers with a SYN-ACK carrying the conv (the SYN's requested conv verbatim, or the next value of a counter
/// starting at 1) and announces the session. A repeated SYN gets the same SYN-ACK again and restarts the session's KCP.
/// A FIN from the peer ends the session (<see cref="CloseKind.RemoteClose"/>) without a reply; a FIN is sent to the peer
/// when the session ends for any other reason, and to every session when the server stops.</para>
/// <para><b>Garbage.</b> A first datagram from a new endpoint that is not a valid SYN gets no reply and is dropped; on a
/// session, a segment with another conv, a truncated segment, a bad checksum, another 12-byte header or a datagram of
/// an illegal length is dropped and the session goes on. Every drop is counted in <see cref="DroppedDatagrams"/> and on
/// the <c>asio2rx.dropped</c> meter with its reason. Datagrams are matched to sessions by source endpoint, so a FIN from
/// another endpoint cannot close a session.</para>
/// <para><b>Streams.</b> <see cref="SessionServer.Sessions"/> is hot and serialized; it completes on stop and errors only if the socket
/// fails. Sessions close with <see cref="CloseKind.DeadLink"/> when the peer stops acknowledging, and with
/// <see cref="CloseKind.SilenceTimeout"/> after <see cref="SessionOptions.SilenceTimeout"/> (60 s by default) without a
/// datagram.</para>
/// </remarks>
public sealed class KcpServer : SessionServer
{
    private readonly KcpServerOptions _options;
    private readonly DatagramServerCore _core;

    /// <summary>Creates a server; nothing is bound until <see cref="Start(IPEndPoint)"/>.</summary>
    public KcpServer(KcpServerOptions? options = null)
        : this(options ?? new KcpServerOptions(), 0)
    {
    }

    private KcpServer(KcpServerOptions options, int _)
        : base(options.Resolve("kcp"))
    {
        _options = options;
        var kcp = options.ResolveKcp();
        _core = kcp.RawConv
            ? new RawConvCore(Registry, Settings, options.MaxSessions, kcp, options.AllowedConvs, options.ConvsPerEndpoint)
            : new Core(Registry, Settings, options.MaxSessions, kcp);
    }

    /// <inheritdoc/>
    public override IPEndPoint? LocalEndPoint => _core.LocalEndPoint;

    /// <summary>Datagrams dropped so far (garbage, handshakes past <see cref="KcpServerOptions.MaxSessions"/>, datagrams
    /// arriving while a session's inbox is full).</summary>
    public long DroppedDatagrams => _core.Drops.Count;

    /// <summary>The open session of this remote endpoint, or null. In raw-conv mode, the one with conv
    /// <see cref="KcpServerOptions.ConvsPerEndpoint"/> allows only one of (see <see cref="FindSession(IPEndPoint, uint)"/>).</summary>
    public Session? FindSession(IPEndPoint remote) =>
        _core is RawConvCore raw ? raw.FindAny(remote) : _core.FindSession(remote);

    /// <summary>Raw-conv mode: the open session of this remote endpoint and conv, or null.</summary>
    public Session? FindSession(IPEndPoint remote, uint conv) =>
        _core is RawConvCore raw ? raw.Find(remote, conv) : _core.FindSession(remote) is KcpSession { Conv: var c } s && c == conv ? s : null;

    /// <summary>Binds <paramref name="endPoint"/> and starts serving. Returns the bound endpoint.</summary>
    public override IPEndPoint Start(IPEndPoint endPoint) => _core.Start(endPoint, _options.ResolveSocket(_options.DualMode));

    /// <summary>Serves on an in-process channel (tests and benchmarks in virtual time).</summary>
    internal IPEndPoint Start(DatagramChannel channel) => _core.Start(channel);

    /// <summary>
    /// Stops: every session hands its queued sends to KCP, lingers until they are acknowledged (within the drain
    /// timeout) and sends a FIN; then the socket closes and <see cref="SessionServer.Sessions"/> completes. Safe to call more than once.
    /// </summary>
    public override Task StopAsync() => _core.StopAsync();

    private sealed class Core(SessionRegistry registry, SessionSettings settings, int maxSessions, KcpSettings kcp) : DatagramServerCore(registry, settings, maxSessions)
    {
        private readonly KcpCookie? _cookie = kcp.Cookie ? new KcpCookie() : null;
        private int _lastConv;

        protected override void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
        {
            var known = Lookup(source) as KcpSession;
            if (_cookie is not null && datagram.Length == KcpHandshake.Size && OnCookieRound(datagram, source, known)) return;
            // A session that is closing still takes its acknowledgements; only a new SYN replaces it.
            if (known is not null && (known.IsOpen || !KcpHandshake.IsSyn(datagram)))
            {
                known.OnDatagram(datagram);
                return;
            }
            if (!KcpHandshake.TryParse(datagram, out var syn) || !KcpHandshake.IsSyn(datagram))
            {
                // asio2: no reply, nothing remembered; a valid SYN from the same endpoint later is accepted normally.
                Drops.Drop(KcpHandshake.Classify(datagram.Length) switch
                {
                    KcpDatagramKind.Kcp => "kcp_before_handshake",
                    KcpDatagramKind.Handshake => KcpHandshake.IsChecksumValid(datagram) ? "kcp_not_syn" : "kcp_bad_checksum",
                    _ => "kcp_illegal_length",
                });
                return;
            }
            // Requested conv verbatim (asio2 does not check it is unique); otherwise the server-wide counter from 1.
            Open(source, syn.Seq, syn.Ack);
        }

        /// <summary>Cookie mode: a SYN gets a COOKIE and leaves nothing behind; an ECHO that verifies opens the session
        /// (or, for an open one, repeats its SYN-ACK). True when the datagram was one of the two.</summary>
        private bool OnCookieRound(ReadOnlySpan<byte> datagram, SocketAddress source, KcpSession? known)
        {
            var now = Settings.Schedulers.Next().Now;
            if (KcpHandshake.IsSyn(datagram))
            {
                KcpHandshake.TryParse(datagram, out var syn);
                Span<byte> reply = stackalloc byte[KcpHandshake.Size]; // as long as the SYN: amplification 1x
                KcpCookie.WriteCookie(reply, _cookie!.Compute(source, syn.Seq, KcpCookie.SlotOf(now)), syn.Seq);
                Channel.Send(reply, source);
                return true;
            }
            if (!KcpCookie.IsEcho(datagram, out uint seq, out uint cookie)) return false;
            if (!_cookie!.Verify(source, seq, cookie, now))
            {
                Drops.Drop("kcp_bad_cookie"); // another address's cookie, an expired one, or a guess
                return true;
            }
            if (known is { IsOpen: true }) known.OnDatagram(datagram); // a lost SYN-ACK: the session sends it again
            else Open(source, seq, requestedConv: 0);
            return true;
        }

        private void Open(SocketAddress source, uint synSeq, uint requestedConv)
        {
            if (!HasRoom()) return;
            uint conv = requestedConv != 0 ? requestedConv : unchecked((uint)Interlocked.Increment(ref _lastConv));
            var key = DatagramChannel.Copy(source);
            var session = new KcpSession(conv, Channel, key, DatagramChannel.ToEndPoint(key), isServer: true, ownsChannel: false, kcp, Drops,
                Settings, Settings.Schedulers.Next());
            session.Released = s => ForgetAddress(key, s);
            // The SYN-ACK leaves before anything the session could send: the client needs the conv first.
            Span<byte> synAck = stackalloc byte[KcpHandshake.Size];
            KcpHandshake.WriteSynAck(synAck, conv, synSeq);
            Channel.Send(synAck, key);
            Accept(key, session, forgetAddressOnFinish: false);
        }

        protected override Task WhenReleased(Session session) => ((KcpSession)session).ReleasedTask;
    }

    /// <summary>
    /// Raw conv: no handshake. A datagram goes to the session of its source and conv; from a new pair, a well-formed
    /// KCP datagram opens a session (within the allow-list, the per-endpoint limit and MaxSessions) and is its first input.
    /// </summary>
    private sealed class RawConvCore(SessionRegistry registry, SessionSettings settings, int maxSessions, KcpSettings kcp,
        IReadOnlyCollection<uint>? allowedConvs, int convsPerEndpoint) : DatagramServerCore(registry, settings, maxSessions)
    {
        private readonly HashSet<uint>? _allowed = allowedConvs is null ? null : [.. allowedConvs];
        private readonly Dictionary<SocketAddress, int> _convsByEndpoint = [];
        // Receive loop only: the key of the datagram at hand, refilled each time.
        private SocketAddress? _scratch;

        public Session? Find(IPEndPoint remote, uint conv)
        {
            var address = remote.Serialize();
            return FindByKey(KcpRawConv.Fill(null, address, conv));
        }

        public Session? FindAny(IPEndPoint remote) =>
            GetOpenSessions().FirstOrDefault(s => remote.Equals(s.RemoteEndPoint));

        protected override void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
        {
            if (datagram.Length < Kcp.Overhead)
            {
                Drops.Drop("kcp_illegal_length");
                return;
            }
            uint conv = KcpRawConv.ReadConv(datagram);
            var key = _scratch = KcpRawConv.Fill(_scratch, source, conv);
            if (Lookup(key) is KcpSession known)
            {
                known.OnDatagram(datagram);
                return;
            }
            if (!KcpRawConv.IsWellFormed(datagram, conv))
            {
                Drops.Drop("kcp_malformed");
                return;
            }
            if (_allowed is not null && !_allowed.Contains(conv))
            {
                Drops.Drop("kcp_unknown_conv");
                return;
            }
            if (!HasRoom()) return;
            var endpoint = DatagramChannel.Copy(source);
            if (!TakeEndpointSlot(endpoint))
            {
                Drops.Drop("kcp_conv_limit");
                return;
            }
            key = DatagramChannel.Copy(key);
            var session = new KcpSession(conv, Channel, endpoint, DatagramChannel.ToEndPoint(endpoint), isServer: true, ownsChannel: false, kcp, Drops,
                Settings, Settings.Schedulers.Next());
            session.Released = s =>
            {
                ForgetAddress(key, s);
                ReturnEndpointSlot(endpoint);
            };
            // The datagram that opened the session is its first input, taken when it starts (after the announcement).
            session.OnDatagram(datagram);
            Accept(key, session, forgetAddressOnFinish: false); // refused when stopping: the discarded session is released all the same
        }

        private bool TakeEndpointSlot(SocketAddress endpoint)
        {
            lock (_convsByEndpoint)
            {
                _convsByEndpoint.TryGetValue(endpoint, out int n);
                if (n >= convsPerEndpoint) return false;
                _convsByEndpoint[endpoint] = n + 1;
                return true;
            }
        }

        private void ReturnEndpointSlot(SocketAddress endpoint)
        {
            lock (_convsByEndpoint)
            {
                if (!_convsByEndpoint.TryGetValue(endpoint, out int n)) return;
                if (n <= 1) _convsByEndpoint.Remove(endpoint);
                else _convsByEndpoint[endpoint] = n - 1;
            }
        }

        protected override Task WhenReleased(Session session) => ((KcpSession)session).ReleasedTask;
    }
}
