using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;

namespace Asio2.Rx;

/// <summary>
/// A UDP session: one remote endpoint. Every <c>Send</c> is one datagram; every received datagram is one frame, in
/// its own array. A server's sessions share the server's channel; a client's session owns its connected channel.
/// </summary>
/// <remarks>
/// The send queue coalesces sends into batches; each payload is queued behind a <see cref="MessageRecords"/> header
/// so <see cref="WriteAsync"/> can send the batch back out datagram by datagram. A UDP session never ends by itself
/// (there is no FIN): it ends on <c>Close</c>, on the silence timeout, or when its owner stops.
/// </remarks>
internal sealed class UdpSession : Session
{
    private readonly DatagramChannel _channel;
    private readonly SocketAddress _remoteAddress;
    private readonly IPEndPoint _remote;
    private readonly bool _ownsChannel;
    private readonly int _maxDatagramSize;
    private readonly DropCounter _drops;
    private volatile bool _started;
    private readonly TimeSpan? _unconfirmedSilenceTimeout;
    private volatile bool _confirmed;
    private int _datagrams; // touched only by the receive loop

    public UdpSession(DatagramChannel channel, SocketAddress remoteAddress, IPEndPoint remote, bool ownsChannel, int maxDatagramSize,
        DropCounter drops, SessionSettings settings, IScheduler scheduler, TimeSpan? unconfirmedSilenceTimeout = null)
        : base(settings, scheduler)
    {
        _unconfirmedSilenceTimeout = unconfirmedSilenceTimeout;
        _channel = channel;
        _remoteAddress = remoteAddress;
        _remote = remote;
        _ownsChannel = ownsChannel;
        _maxDatagramSize = maxDatagramSize;
        _drops = drops;
    }

    public override EndPoint? LocalEndPoint => _channel.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _remote;

    /// <summary>The channel datagrams go through (tests read its error counters).</summary>
    internal DatagramChannel Channel => _channel;

    /// <summary>The remote address as the server's lookup key (never mutated).</summary>
    internal SocketAddress RemoteAddress => _remoteAddress;

    private protected override int GetSendHeaderLength(int payloadLength) => MessageRecords.HeaderLength;

    private protected override void WriteSendHeader(Span<byte> destination, int payloadLength) => MessageRecords.WriteHeader(destination, payloadLength);

    private protected override int MaxSendPayload => _maxDatagramSize;

    /// <summary>Until a second datagram arrives, the shorter <see cref="UdpServerOptions.UnconfirmedSilenceTimeout"/>.</summary>
    private protected override TimeSpan? CurrentSilenceTimeout =>
        _confirmed || _unconfirmedSilenceTimeout is not { } first || Settings.SilenceTimeout is not { } full
            ? Settings.SilenceTimeout
            : (first < full ? first : full);

    // Datagrams are pushed in by the receive loop (OnDatagram); from now on they are delivered. A client's channel starts
    // receiving only now: what its peer sent before (a reply to a Connections subscriber's send, made before Start) waits
    // in the socket's buffer, as it does for TCP, instead of reaching a session nobody may see yet.
    private protected override void StartTransport()
    {
        _started = true;
        if (_ownsChannel) _channel.Start((datagram, _) => OnDatagram(datagram));
    }

    /// <summary>Called by the receive loop with one datagram from this session's peer.</summary>
    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        if (!_started || !IsOpen)
        {
            // A server's session starts before its first datagram: not started yet, or closed, nobody sees a frame.
            _drops.Drop("session_not_open");
            return;
        }
        if (datagram.Length > _maxDatagramSize)
        {
            _drops.Drop("datagram_too_large");
            return;
        }
        // No flow control to push back with: past the bound (frames waiting for subscribers, or held back by
        // HoldReading), drop, as a full socket buffer would.
        if (PendingReceiveBytes + datagram.Length > Settings.MaxPendingReceiveBytes)
        {
            _drops.Drop("receive_backlog");
            return;
        }
        // A second datagram from the peer confirms it (a spoofed source sends one and never hears back).
        if (!_confirmed && ++_datagrams > 1) _confirmed = true;
        OnBytesReceived(datagram.Length);
        // One array per datagram: the frame's immutable home.
        Post(new FrameBatch(this, datagram.ToArray(), null, 1));
    }

    // The queue's record lengths never reach the wire: BytesSent counts the datagrams' payloads.
    private protected override bool CountsTransportBytes => true;

    private protected override ValueTask WriteAsync(ReadOnlyMemory<byte> batch)
    {
        int sent = 0;
        while (MessageRecords.TryTake(ref batch, out var payload))
        {
            var pending = _channel.SendAsync(payload, _remoteAddress, CancellationToken.None);
            if (!pending.IsCompletedSuccessfully) return SendRestAsync(pending, sent + payload.Length, batch);
            sent += payload.Length;
        }
        OnTransportBytesSent(sent);
        return default;
    }

    /// <summary>The rest of a batch after a send that did not complete at once; <paramref name="sent"/> counts the
    /// payloads up to and including that one.</summary>
    private async ValueTask SendRestAsync(ValueTask pending, int sent, ReadOnlyMemory<byte> rest)
    {
        await pending.ConfigureAwait(false);
        while (MessageRecords.TryTake(ref rest, out var payload))
        {
            await _channel.SendAsync(payload, _remoteAddress, CancellationToken.None).ConfigureAwait(false);
            sent += payload.Length;
        }
        OnTransportBytesSent(sent);
    }

    private protected override void CloseTransport(bool abortive)
    {
        // UDP has nothing to tell the peer. A client's session owns its socket; a server's shares the server's.
        if (_ownsChannel) _channel.Dispose();
    }
}
