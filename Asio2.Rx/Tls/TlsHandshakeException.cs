using System.Security.Authentication;

namespace Asio2.Rx;

/// <summary>Why a TLS handshake failed: one value per cause, so code can react without parsing messages.</summary>
public enum TlsHandshakeError
{
    /// <summary>A cause not listed here; see the exception's message and inner exception.</summary>
    Other,
    /// <summary>The peer does not speak TLS: it sent bytes that are not a TLS record (plaintext, HTTP, garbage).</summary>
    NotTls,
    /// <summary>The connection ended (or was reset) in the middle of the handshake.</summary>
    Truncated,
    /// <summary>The handshake did not finish within <see cref="TlsOptions.HandshakeTimeout"/>.</summary>
    Timeout,
    /// <summary>The peer's certificate does not chain to a trusted root (self-signed, unknown CA, missing intermediate).</summary>
    UntrustedCertificate,
    /// <summary>The peer's certificate (or one in its chain) has expired or is not yet valid.</summary>
    CertificateExpired,
    /// <summary>The server's certificate is not valid for the host name the client asked for.</summary>
    NameMismatch,
    /// <summary>The server requires a client certificate and the client sent none (seen by the server; a client sees
    /// it when the server says so with a TLS alert).</summary>
    ClientCertificateRequired,
    /// <summary>The peer's certificate failed verification for another reason (revoked, wrong key usage, bad
    /// signature), or <see cref="TlsOptions.RemoteCertificateValidation"/> returned false.</summary>
    CertificateRejected,
    /// <summary>The peer aborted the handshake with a TLS alert, typically because it did not accept this side's
    /// certificate (unknown CA, expired, bad certificate). The alert is in the message.</summary>
    RejectedByPeer,
    /// <summary>The two sides share no TLS version, cipher suite or ALPN protocol.</summary>
    NoCommonProtocol,
    /// <summary>The client asked (SNI) for a host the server has no certificate for, and the server has no default certificate.</summary>
    UnknownServerName,
}

/// <summary>
/// A TLS handshake failed (or timed out). Found on <see cref="CloseReason.Exception"/> of a session closed with
/// <see cref="CloseKind.HandshakeFailed"/> or <see cref="CloseKind.HandshakeTimeout"/>; <see cref="Error"/> says why.
/// </summary>
public sealed class TlsHandshakeException : AuthenticationException
{
    /// <summary>Creates the exception.</summary>
    public TlsHandshakeException(TlsHandshakeError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>The cause.</summary>
    public TlsHandshakeError Error { get; }
}
