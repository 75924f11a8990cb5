using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>What a finished TLS handshake negotiated: protocol version, cipher suite, ALPN protocol, the peer's
/// certificate and the host name. See <see cref="TlsSessionExtensions.TlsHandshake(Session)"/>.</summary>
public sealed class TlsHandshakeInfo
{
    internal TlsHandshakeInfo(Session session, bool isServer, SslProtocols protocol, TlsCipherSuite cipherSuite,
        string? applicationProtocol, X509Certificate2? peerCertificate, string? hostName)
    {
        Session = session;
        IsServer = isServer;
        Protocol = protocol;
        CipherSuite = cipherSuite;
        ApplicationProtocol = applicationProtocol;
        PeerCertificate = peerCertificate;
        HostName = hostName;
    }

    /// <summary>The session this handshake belongs to.</summary>
    public Session Session { get; }

    /// <summary>True on the server side of the connection.</summary>
    public bool IsServer { get; }

    /// <summary>The negotiated TLS version (<see cref="SslProtocols.Tls12"/> or <see cref="SslProtocols.Tls13"/> by default).</summary>
    public SslProtocols Protocol { get; }

    /// <summary>The negotiated cipher suite, e.g. <see cref="TlsCipherSuite.TLS_AES_256_GCM_SHA384"/>.</summary>
    public TlsCipherSuite CipherSuite { get; }

    /// <summary>The protocol agreed with ALPN ("h2", "http/1.1", ...), or null when none was negotiated.</summary>
    public string? ApplicationProtocol { get; }

    /// <summary>The peer's certificate: always present on the client side; on the server side only when the client sent
    /// one (<see cref="TlsServerOptions.ClientCertificateMode"/>). A copy owned by this object.</summary>
    public X509Certificate2? PeerCertificate { get; }

    /// <summary>Server side: the host name the client asked for with SNI (null when it sent none). Client side: the
    /// host name the server's certificate was checked against.</summary>
    public string? HostName { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Protocol} {CipherSuite}" +
        (ApplicationProtocol is null ? "" : $" alpn={ApplicationProtocol}") +
        (HostName is null ? "" : $" host={HostName}") +
        (PeerCertificate is null ? "" : $" peer={PeerCertificate.Subject}");
}
