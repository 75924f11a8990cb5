namespace Asio2.Rx;

/// <summary>Why a session ended. Carried by <see cref="CloseReason.Kind"/>.</summary>
public enum CloseKind
{
    /// <summary>This side closed gracefully (<c>Close</c>): pending sends were flushed, then the connection was shut down.</summary>
    LocalClose,
    /// <summary>This side aborted (<c>Abort</c>): pending sends were dropped.</summary>
    LocalAbort,
    /// <summary>The peer closed its side gracefully (TCP FIN, KCP FIN, end of stream).</summary>
    RemoteClose,
    /// <summary>The peer reset the connection (TCP RST) or the connection broke.</summary>
    Reset,
    /// <summary>The server or client that owns the session was stopped or disposed.</summary>
    Stopped,
    /// <summary>No bytes arrived for the configured silence (idle) timeout.</summary>
    SilenceTimeout,
    /// <summary>A connection attempt did not complete within the connect timeout.</summary>
    ConnectTimeout,
    /// <summary>A connection attempt failed (refused, unreachable, name not resolved).</summary>
    ConnectFailed,
    /// <summary>A frame exceeded the framing's maximum frame size.</summary>
    FrameTooLarge,
    /// <summary>The peer sent bytes the protocol does not allow (illegal length header, bad handshake, malformed message).</summary>
    ProtocolError,
    /// <summary>More bytes were queued for sending than the send-queue bound allows (a peer that does not read).</summary>
    SendQueueOverflow,
    /// <summary>A subscriber threw from <c>OnNext</c>; only this session was closed.</summary>
    UserCodeFault,
    /// <summary>A security handshake (TLS, KCP) failed.</summary>
    HandshakeFailed,
    /// <summary>A security handshake (TLS, KCP) did not finish within its timeout.</summary>
    HandshakeTimeout,
    /// <summary>The peer did not answer a keep-alive probe (a WebSocket ping) in time: a half-open connection.</summary>
    KeepAliveTimeout,
    /// <summary>A reliable-UDP link stopped acknowledging (KCP dead link).</summary>
    DeadLink,
    /// <summary>The device behind the session disappeared (serial port removed).</summary>
    DeviceLost,
    /// <summary>An I/O error that fits no other kind; see <see cref="CloseReason.Exception"/>.</summary>
    Error,
    /// <summary>The session was detached (<c>DetachAsync</c>): its connection was handed over to a new owner, open.</summary>
    Upgraded,
}

/// <summary>
/// Why a session ended: a <see cref="CloseKind"/>, the exception behind it if any, a short message, and the
/// protocol's close code when the protocol has one. Delivered once on the session's <c>Closed</c> stream.
/// </summary>
/// <param name="Kind">The category of the close.</param>
/// <param name="Exception">The error behind the close, when there is one.</param>
/// <param name="Message">A short human-readable description (for WebSocket, the close frame's reason text).</param>
/// <param name="Code">The protocol's close code (WebSocket 1000-4999), sent or received; null when the protocol has none.</param>
public sealed record CloseReason(CloseKind Kind, Exception? Exception = null, string? Message = null, int? Code = null)
{
    /// <summary>True when the close was asked for by this side (<see cref="CloseKind.LocalClose"/>, <see cref="CloseKind.LocalAbort"/>, <see cref="CloseKind.Stopped"/>, <see cref="CloseKind.Upgraded"/>).</summary>
    public bool IsLocal => Kind is CloseKind.LocalClose or CloseKind.LocalAbort or CloseKind.Stopped or CloseKind.Upgraded;

    /// <inheritdoc/>
    public override string ToString()
    {
        string kind = Code is { } code ? $"{Kind} ({code})" : Kind.ToString();
        return Message is null ? kind : $"{kind}: {Message}";
    }
}
