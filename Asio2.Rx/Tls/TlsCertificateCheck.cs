using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>
/// What <see cref="TlsOptions.RemoteCertificateValidation"/> gets to decide on: the peer's certificate, the chain
/// built for it, and the built-in verdict.
/// </summary>
/// <remarks>Valid only during the callback: the certificate and chain are released when it returns. Copy what you
/// want to keep (for example <c>Certificate.RawData</c>).</remarks>
public sealed class TlsCertificateCheck
{
    internal TlsCertificateCheck(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors policyErrors,
        TlsHandshakeError? error, string? hostName, EndPoint? remoteEndPoint, bool isServer)
    {
        Certificate = certificate;
        Chain = chain;
        PolicyErrors = policyErrors;
        Error = error;
        HostName = hostName;
        RemoteEndPoint = remoteEndPoint;
        IsServer = isServer;
    }

    /// <summary>The peer's certificate; null when it sent none (a client without a certificate).</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>The chain built for <see cref="Certificate"/> (with <see cref="TlsOptions.TrustedCaPem"/> as the only roots
    /// when set); null when there is no certificate.</summary>
    public X509Chain? Chain { get; }

    /// <summary>The built-in verdict: <see cref="SslPolicyErrors.None"/> means the certificate passed.</summary>
    public SslPolicyErrors PolicyErrors { get; }

    /// <summary>The built-in verdict as the reason the handshake would fail (null when it passed).</summary>
    public TlsHandshakeError? Error { get; }

    /// <summary>Client side: the host name the certificate was checked against. Server side: the name the client
    /// sent with SNI, if any.</summary>
    public string? HostName { get; }

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>True when this side is the server (checking a client certificate).</summary>
    public bool IsServer { get; }
}
