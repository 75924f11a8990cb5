using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

/// <summary>
/// A KCP client (reliable UDP), wire-compatible with asio2's <c>udp_client</c> + <c>use_kcp</c>: connecting is asio2's
/// handshake, and the connection is a <see cref="Session"/> with the same API as TCP. It reconnects like
/// <see cref="TcpClient"/>.
/// </summary>
/// <example>
/// <code>
/// await using var client = new KcpClient();
/// client.Frames.Subscribe(f => Console.WriteLine(f.Text));
/// await client.Connect("127.0.0.1", port);
/// await client.Send("hello");
/// </code>
/// </example>
/// <remarks>
/// <para><b>Handshake.</b> The client sends a SYN (its clock in ms, and <see cref="KcpClientOptions.Conv"/>) and resends
/// the same SYN every 500 ms until a datagram arrives or <see cref="KcpClientOptions.ConnectTimeout"/> passes (then the
/// attempt fails with <see cref="CloseKind.ConnectTimeout"/>, without a FIN, as asio2). The first datagram decides: a
/// SYN-ACK for this SYN connects with the conv it carries; anything else fails the attempt at once with
/// <see cref="CloseKind.HandshakeFailed"/> and a FIN is sent, as asio2 does. Times come from the client's scheduler.</para>
/// <para><b>Raw conv</b> (<see cref="KcpOptions.Handshake"/> = <see cref="KcpHandshakeMode.None"/>): no handshake;
/// connecting opens the socket and the session at once, and every segment carries <see cref="KcpClientOptions.Conv"/>.
/// Nothing tells the client whether a server is there until a send goes unacknowledged (<see cref="CloseKind.DeadLink"/>).</para>
/// <para>The connection ends with a FIN from the server (<see cref="CloseKind.RemoteClose"/>), a dead link
/// (<see cref="CloseKind.DeadLink"/>), the silence timeout if set, or <c>DisconnectAsync</c> (queued sends are delivered
/// first, then a FIN).</para>
/// </remarks>
public sealed class KcpClient : NetworkClient
{
    /// <summary>asio2 resends an unanswered SYN every 500 ms.</summary>
    internal static readonly TimeSpan SynInterval = TimeSpan.FromMilliseconds(500);

    private readonly KcpClientOptions _options;
    private readonly KcpSettings _kcp;
    private readonly DropCounter _drops;

    /// <summary>Creates a client; nothing happens until <see cref="NetworkClient.Connect(string, int)"/>.</summary>
    public KcpClient(KcpClientOptions? options = null)
        : this(options ?? new KcpClientOptions(), 0)
    {
    }

    private KcpClient(KcpClientOptions options, int _)
        : base(options.Resolve("kcp"), options.ConnectTimeout, options.Reconnect)
    {
        _options = options;
        _drops = new DropCounter("kcp", Settings.Metrics);
        _kcp = options.ResolveKcp();
        ChannelFactory = static (remote, o) => SocketDatagramChannel.Connect(remote, "kcp", o.ResolveSocket(), o.Logger, Asio2Metrics.For(o.MeterFactory));
    }

    /// <summary>Opens the channel to a resolved endpoint. Replaced in tests and benchmarks to run in process.</summary>
    internal Func<IPEndPoint, KcpClientOptions, DatagramChannel> ChannelFactory { get; set; }

    /// <summary>Datagrams dropped so far (garbage from the server's address, a full inbox, a rejected handshake reply).</summary>
    public long DroppedDatagrams => _drops.Count;

    private protected override ValueTask<Session> ConnectSessionAsync(CancellationToken cancellationToken) =>
        Target is IPEndPoint ip ? HandshakeAsync(ip, cancellationToken) : ResolveThenHandshakeAsync(cancellationToken);

    private async ValueTask<Session> ResolveThenHandshakeAsync(CancellationToken cancellationToken)
    {
        var remote = await DatagramEndPoints.ResolveAsync(Target!, cancellationToken).ConfigureAwait(false);
        return await HandshakeAsync(remote, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask<Session> HandshakeAsync(IPEndPoint remote, CancellationToken cancellationToken)
    {
        var channel = ChannelFactory(remote, _options);
        if (!_kcp.RawConv) return new Handshake(this, channel, remote).Run(cancellationToken);
        // Raw conv: nothing to agree on; the session speaks KCP with the configured conv from its first segment.
        var session = new KcpSession(_options.Conv, channel, remote.Serialize(), remote, isServer: false, ownsChannel: true, _kcp, _drops,
            Settings, Scheduler);
        channel.Start((datagram, _) => session.OnDatagram(datagram));
        return new ValueTask<Session>(session);
    }

    /// <summary>
    /// One handshake: SYN every 500 ms on the client's scheduler until the first datagram, which decides. It completes
    /// its <see cref="ValueTask{TResult}"/> on the thread that decided, resuming the connect loop right there (a
    /// <c>Task</c> would hop to the thread pool under a synchronization context), so virtual-time tests stay deterministic.
    /// </summary>
    private sealed class Handshake(KcpClient client, DatagramChannel channel, IPEndPoint remote) : IValueTaskSource<Session>
    {
        // The datagram resent every 500 ms: the SYN, then (cookie mode) the ECHO of the server's cookie.
        private volatile byte[] _syn = new byte[KcpHandshake.Size];
        private readonly SocketAddress _remoteAddress = remote.Serialize();
        private ManualResetValueTaskSourceCore<Session> _done;
        private uint _seq;
        private int _decided;
        private IDisposable? _resend;
        private volatile KcpSession? _session;

        public ValueTask<Session> Run(CancellationToken cancellationToken)
        {
            // asio2's seq is the wall clock in ms since the Unix epoch, truncated to 32 bits; here the scheduler's.
            _seq = unchecked((uint)client.Scheduler.Now.ToUnixTimeMilliseconds());
            KcpHandshake.WriteSyn(_syn, _seq, client._kcp.Cookie ? 0 : client._options.Conv);
            var result = new ValueTask<Session>(this, _done.Version);
            channel.Start(OnDatagram);
            cancellationToken.Register(static s => ((Handshake)s!).Cancel(), this);
            SendSyn();
            return result;
        }

        private void SendSyn()
        {
            if (Volatile.Read(ref _decided) != 0) return;
            channel.Send(_syn, _remoteAddress);
            _resend = client.Scheduler.Schedule(this, SynInterval, static (_, h) =>
            {
                h.SendSyn();
                return Disposable.Empty;
            });
        }

        private void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
        {
            if (_session is { } session)
            {
                session.OnDatagram(datagram);
                return;
            }
            if (client._kcp.Cookie && KcpCookie.IsCookieFor(datagram, _seq, out uint cookie) && Volatile.Read(ref _decided) == 0)
            {
                // Cookie mode: echo the cookie (now, and on every resend) until the SYN-ACK.
                var echo = new byte[KcpHandshake.Size];
                KcpCookie.WriteEcho(echo, _seq, cookie);
                _syn = echo;
                channel.Send(echo, _remoteAddress);
                return;
            }
            if (Interlocked.Exchange(ref _decided, 1) != 0)
            {
                client._drops.Drop("kcp_handshake_over");
                return;
            }
            _resend?.Dispose();
            if (!KcpHandshake.IsSynAckFor(datagram, _seq))
            {
                // asio2's client: the first reply must be the SYN-ACK for this SYN; otherwise fail and say FIN.
                client._drops.Drop("kcp_bad_synack");
                Span<byte> fin = stackalloc byte[KcpHandshake.Size];
                KcpHandshake.WriteFin(fin);
                channel.Send(fin, _remoteAddress);
                channel.Dispose();
                _done.SetException(new ConnectException(new CloseReason(CloseKind.HandshakeFailed, null,
                    $"the server's first reply ({datagram.Length} bytes) is not a SYN-ACK for this SYN")));
                return;
            }
            uint conv = BinaryPrimitives.ReadUInt32BigEndian(datagram);
            _session = new KcpSession(conv, channel, _remoteAddress, remote, isServer: false, ownsChannel: true, client._kcp, client._drops,
                client.Settings, client.Scheduler);
            _done.SetResult(_session);
        }

        private void Cancel()
        {
            if (Interlocked.Exchange(ref _decided, 1) != 0) return;
            // A timed-out or abandoned handshake just stops: no FIN (asio2 sends none after a connect timeout).
            _resend?.Dispose();
            channel.Dispose();
            _done.SetException(new OperationCanceledException("the handshake was abandoned"));
        }

        Session IValueTaskSource<Session>.GetResult(short token) => _done.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<Session>.GetStatus(short token) => _done.GetStatus(token);

        void IValueTaskSource<Session>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _done.OnCompleted(continuation, state, token, flags);
    }
}
