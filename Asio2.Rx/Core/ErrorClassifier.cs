using System.Net.Sockets;
using System.Security.Authentication;

namespace Asio2.Rx;

/// <summary>Sorts transport exceptions into close reasons.</summary>
internal static class ErrorClassifier
{
    public static CloseReason Classify(Exception ex)
    {
        // SslStream and NetworkStream wrap socket errors in IOException (sometimes twice), and so the
        // ObjectDisposedException of a socket disposed here; look through to the cause.
        var inner = ex;
        while (inner is IOException { InnerException: { } wrapped }
               && wrapped is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            inner = wrapped;
        return inner switch
        {
            SocketException s when IsReset(s.SocketErrorCode) => new CloseReason(CloseKind.Reset, s, s.Message),
            SocketException s when s.SocketErrorCode == SocketError.TimedOut => new CloseReason(CloseKind.Reset, s, "the connection timed out (keep-alive or retransmission)"),
            SocketException s when IsLocalAbort(s.SocketErrorCode) => new CloseReason(CloseKind.LocalAbort, s, s.Message),
            AuthenticationException a => new CloseReason(CloseKind.HandshakeFailed, a, a.Message),
            ConnectionResetException r => new CloseReason(CloseKind.Reset, r, r.Message),
            ObjectDisposedException or OperationCanceledException => new CloseReason(CloseKind.LocalAbort, inner, inner.Message),
            _ => new CloseReason(CloseKind.Error, inner, inner.Message),
        };
    }

    /// <summary>Errors that mean "the peer (or the path to it) dropped the connection", as opposed to our own misuse.</summary>
    private static bool IsReset(SocketError code) => code is
        SocketError.ConnectionReset or       // RST from the peer
        SocketError.ConnectionAborted or     // Linux reports ECONNABORTED for some RSTs during accept/read
        SocketError.Shutdown or              // EPIPE: writing after the peer closed
        SocketError.NetworkReset or
        SocketError.HostUnreachable or
        SocketError.NetworkUnreachable or
        SocketError.NotConnected;

    /// <summary>Errors of an operation this side cut short: the socket was disposed (or the I/O cancelled) while a
    /// receive or send was pending. Kestrel's <c>SocketConnection.IsConnectionAbortError</c> sorts them the same way.</summary>
    private static bool IsLocalAbort(SocketError code) => code is SocketError.OperationAborted or SocketError.Interrupted;
}

/// <summary>The peer reset a transport that has no socket (in-memory pairs, pipes).</summary>
public sealed class ConnectionResetException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ConnectionResetException(string message) : base(message) { }
}
