using System.Net;
using System.Net.WebSockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// One WebSocket connection, server or client side: a <see cref="Session"/> like every other (pinned scheduler, hot
/// <see cref="Session.Frames"/>, the bounded send queue, <see cref="Session.Closed"/> exactly once), whose frames are
/// whole messages with <see cref="Frame.Kind"/> telling text from binary, and whose close reason carries the WebSocket
/// close code (<see cref="CloseReason.Code"/>).
/// </summary>
/// <remarks>
/// <para><b>Frames.</b> Fragments are reassembled; a message larger than <see cref="WebSocketOptions.MaxMessageSize"/>
/// closes the session with 1009. Text is validated as UTF-8 (across fragments; invalid text closes with 1007); protocol
/// violations close with 1002. Pings are answered, pongs and control frames never reach <c>Frames</c>.</para>
/// <para><b>Sending.</b> <c>Send(bytes)</c> sends a binary message, <c>Send(string)</c> a text message, <c>Send(bytes, kind)</c>
/// either; all go through
/// the session's bounded send queue, one message per call, and queued messages leave in one write. <c>SendAsync</c> of a
/// stream or an observable of chunks sends one message in fragments, each queued when there is room.</para>
/// <para><b>Close codes.</b> The reason's <see cref="CloseReason.Code"/> is the code received in the peer's close frame
/// (<see cref="CloseKind.RemoteClose"/>) or the code this side sent: 1000 for <see cref="Session.Close()"/>, the code given
/// to <see cref="Close(int, string?)"/>, 1001 when the server or client stops, 1002/1007/1009 for bad input. 1006 means
/// no close frame was exchanged (an abort, a reset, a keep-alive timeout, a peer that vanished).</para>
/// <para><b>Keep-alive.</b> After <see cref="WebSocketOptions.PingInterval"/> without input the session pings; when
/// nothing arrives within <see cref="WebSocketOptions.PongTimeout"/> it closes with <see cref="CloseKind.KeepAliveTimeout"/>.
/// Both timers run on the session's scheduler.</para>
/// </remarks>
public sealed partial class WebSocketSession : Session
{
    // Set while this thread queues a message that must not be compressed (see WriteSendHeader).
    [ThreadStatic] private static bool t_noCompression;

    private const byte FlagText = 1, FlagNoCompression = 2;

    private readonly WebSocketWire _wire;
    private readonly WebSocket _ws;
    private readonly WebSocketSettings _wsSettings;
    private readonly EndPoint? _local;
    private readonly EndPoint? _remote;
    private readonly TaskCompletionSource _readDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal WebSocketSession(Stream stream, ReadOnlyMemory<byte> buffered, bool isServer, string? subProtocol, NegotiatedDeflate? deflate,
        WebSocketUpgradeRequest? upgradeRequest, WebSocketSettings wsSettings, SessionSettings settings, IScheduler scheduler,
        EndPoint? local, EndPoint? remote)
        : base(settings, scheduler)
    {
        _wsSettings = wsSettings;
        _local = local;
        _remote = remote;
        IsServer = isServer;
        SubProtocol = subProtocol;
        IsCompressed = deflate is not null;
        UpgradeRequest = upgradeRequest;
        _wire = new WebSocketWire(stream, buffered, isServer, deflate is not null, OnBytesReceived, OnTransportBytesSent);
        if (isServer) _wire.OnUnmasked = OnUnmaskedFrame;
        _ws = WebSocket.CreateFromStream(_wire, new WebSocketCreationOptions
        {
            IsServer = isServer,
            SubProtocol = subProtocol,
            // Keep-alive is ours, on the session's scheduler (System.Net's runs on a timer no test can drive).
            KeepAliveInterval = TimeSpan.Zero,
            DangerousDeflateOptions = deflate?.Options,
        });
    }

    /// <inheritdoc/>
    public override EndPoint? LocalEndPoint => _local;

    /// <inheritdoc/>
    public override EndPoint? RemoteEndPoint => _remote;

    /// <summary>True on the accepting side.</summary>
    public bool IsServer { get; }

    /// <summary>The subprotocol both sides agreed on, or null.</summary>
    public string? SubProtocol { get; }

    /// <summary>True when permessage-deflate was negotiated.</summary>
    public bool IsCompressed { get; }

    /// <summary>The HTTP request that opened this session (server side); null on the client side.</summary>
    public WebSocketUpgradeRequest? UpgradeRequest { get; }

    /// <summary>Sends a text message; <paramref name="compress"/> false keeps it out of permessage-deflate (for
    /// secrets sent next to attacker-controlled data: CRIME/BREACH). <c>Send(string)</c> sends a compressible text message.</summary>
    public SendResult Send(string text, bool compress)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Send(Encoding.UTF8.GetBytes(text), FrameKind.Text, compress);
    }

    /// <summary>Sends one message of <paramref name="kind"/>; <paramref name="compress"/> false keeps it out of
    /// permessage-deflate. Thread-safe, ordered, non-blocking; the bytes are copied before this returns.</summary>
    public SendResult Send(ReadOnlySpan<byte> data, FrameKind kind, bool compress)
    {
        if (compress) return Send(data, kind);
        t_noCompression = true;
        try
        {
            return Send(data, kind);
        }
        finally
        {
            t_noCompression = false;
        }
    }

    /// <summary>Closes gracefully with a close frame carrying <paramref name="code"/> (1000, or 3000–4999 for
    /// applications) and <paramref name="reason"/> (at most 123 UTF-8 bytes): queued messages are sent first.
    /// <see cref="Session.Closed"/> reports <see cref="CloseKind.LocalClose"/> with this code.</summary>
    public void Close(int code, string? reason = null)
    {
        if (!IsSendableCode(code))
            throw new ArgumentOutOfRangeException(nameof(code), code, "A close code is 1000-1003, 1007-1011 or 3000-4999.");
        if (reason is not null && Encoding.UTF8.GetByteCount(reason) > 123)
            throw new ArgumentException("A close reason is at most 123 UTF-8 bytes.", nameof(reason));
        Shutdown(new CloseReason(CloseKind.LocalClose, null, reason, code), graceful: true);
    }

    /// <summary>The close code that goes with a close reason Core made without one.</summary>
    private protected override CloseReason CompleteCloseReason(CloseReason reason, bool graceful)
    {
        if (reason.Code is not null) return reason;
        int code = !graceful ? 1006 : reason.Kind switch
        {
            CloseKind.LocalClose => 1000,
            CloseKind.Stopped => 1001,
            CloseKind.ProtocolError => 1002,
            CloseKind.FrameTooLarge => 1009,
            CloseKind.UserCodeFault => 1011,
            _ => 1006,
        };
        return reason with { Code = code };
    }

    /// <summary>§5.1: a server closes with 1002 on an unmasked client frame. The wire reads nothing more.</summary>
    private void OnUnmaskedFrame()
    {
        Settings.Metrics.Drop(Transport, "protocol_error");
        ShutdownAfterPendingFrames(new CloseReason(CloseKind.ProtocolError, null, "the client sent an unmasked frame (RFC 6455 §5.1)", 1002), graceful: true);
        _readDone.TrySetResult();
    }

    // Frames written to the connection: the send queue's records carry a header of ours that never reaches the wire.
    private protected override bool CountsTransportBytes => true;

    private static bool IsSendableCode(int code) => code is (>= 1000 and <= 1003) or (>= 1007 and <= 1011) or (>= 3000 and <= 4999);

    private protected override void StartTransport()
    {
        StartReadLoop();
        if (_wsSettings.PingInterval is { } interval) ArmKeepAlive(interval);
    }

    private protected override void CloseTransport(bool abortive)
    {
        _keepAlive?.Dispose();
        OnReadingResumed(); // a read loop waiting for a hold to end would wait forever
        if (abortive)
        {
            _ws.Abort();
            _wire.Dispose();
            return;
        }
        _ = CloseHandshakeAsync(CloseReason!);
    }

    /// <summary>RFC 6455 §7: send our close frame (unless one was sent already), wait for the peer's (or the end of the
    /// stream) within the drain timeout, then close the connection.</summary>
    private async Task CloseHandshakeAsync(CloseReason reason)
    {
        var timer = Scheduler.Schedule(this, Settings.DrainTimeout, static (_, s) =>
        {
            s._readDone.TrySetResult();
            return Disposable.Empty;
        });
        try
        {
            if (_ws.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                int code = reason.Code ?? 1000;
                var status = IsSendableCode(code) ? (WebSocketCloseStatus)code : WebSocketCloseStatus.Empty;
                string? text = status == WebSocketCloseStatus.Empty ? null : Truncate(reason.Message);
                await _ws.CloseOutputAsync(status, text, CancellationToken.None).ConfigureAwait(false);
            }
            await _readDone.Task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Asio2Log.WebSocketCloseFailed(Logger, ex, this);
        }
        finally
        {
            timer.Dispose();
            _ws.Abort();
            _wire.Dispose();
        }
    }

    /// <summary>At most 123 UTF-8 bytes (§5.5: a control frame's payload is at most 125, two of them the code), cut on
    /// a character boundary.</summary>
    private static string? Truncate(string? text)
    {
        if (text is null || Encoding.UTF8.GetByteCount(text) <= 123) return text;
        int n = text.Length;
        while (Encoding.UTF8.GetByteCount(text.AsSpan(0, n)) > 123) n--;
        if (n > 0 && char.IsHighSurrogate(text[n - 1])) n--;
        return text[..n];
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Transport} session {Id} {RemoteEndPoint}";
}
