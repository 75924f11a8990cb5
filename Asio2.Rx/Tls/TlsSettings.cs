using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>Resolved TLS settings shared by both sides; immutable, read by every handshake.</summary>
internal sealed record TlsCommonSettings(
    SslProtocols Protocols,
    List<SslApplicationProtocol> ApplicationProtocols,
    TimeSpan HandshakeTimeout,
    X509Certificate2Collection? TrustedCas,
    Func<TlsCertificateCheck, bool>? Validation,
    X509RevocationMode RevocationMode,
    bool AcceptAnyCertificate)
{
    /// <summary>ALPN list for SslStream, or null when none is configured (no ALPN extension at all).</summary>
    public List<SslApplicationProtocol>? Alpn => ApplicationProtocols.Count == 0 ? null : ApplicationProtocols;

    /// <summary>
    /// A fresh chain policy per handshake: SslStream assigns the policy object to its X509Chain and then adds the
    /// expected application policy (server/client auth OID) to it, so a shared instance would be mutated by
    /// concurrent handshakes. Null means system trust.
    /// </summary>
    public X509ChainPolicy? CreateChainPolicy()
    {
        if (TrustedCas is null) return null;
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = RevocationMode,
            RevocationFlag = X509RevocationFlag.ExcludeRoot,
            // Private CAs publish no AIA URLs worth fetching; downloading could stall the handshake.
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(TrustedCas);
        return policy;
    }
}

/// <summary>Resolved server settings: certificates by host name, client-certificate mode.</summary>
internal sealed class TlsServerSettings
{
    private readonly Dictionary<string, TlsCertificate> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, TlsCertificate> _wildcard = new(StringComparer.OrdinalIgnoreCase); // key: ".example.com"

    public TlsServerSettings(TlsCommonSettings common, TlsCertificate? defaultCertificate,
        IEnumerable<KeyValuePair<string, TlsCertificate>> sni, TlsClientCertificateMode clientCertificateMode)
    {
        Common = common;
        Default = defaultCertificate;
        ClientCertificateMode = clientCertificateMode;
        foreach (var (host, cert) in sni)
        {
            var name = host.Trim().TrimEnd('.');
            if (name.StartsWith("*.", StringComparison.Ordinal)) _wildcard[name[1..]] = cert;
            else _exact[name] = cert;
        }
    }

    public TlsCommonSettings Common { get; }
    public TlsCertificate? Default { get; }
    public TlsClientCertificateMode ClientCertificateMode { get; }

    /// <summary>The certificate for the SNI host name: exact match, then a one-label wildcard, then the default.</summary>
    public TlsCertificate? Select(string? serverName)
    {
        if (string.IsNullOrEmpty(serverName)) return Default;
        var name = serverName.TrimEnd('.');
        if (_exact.TryGetValue(name, out var cert)) return cert;
        int dot = name.IndexOf('.');
        if (dot > 0 && _wildcard.Count > 0 && _wildcard.TryGetValue(name[dot..], out cert)) return cert;
        return Default;
    }

    public SslServerAuthenticationOptions CreateOptions(TlsCertificate certificate, RemoteCertificateValidationCallback validate) => new()
    {
        ServerCertificateContext = certificate.Context,
        EnabledSslProtocols = Common.Protocols,
        ApplicationProtocols = Common.Alpn,
        // "Required" in SslStream means "ask for one"; whether a missing one is fatal is decided by our callback.
        ClientCertificateRequired = ClientCertificateMode != TlsClientCertificateMode.None,
        // A resumed TLS session carries the client's leaf certificate but not its intermediates, so verifying a client
        // certificate on resumption fails ("unable to get local issuer certificate"). Full handshakes when asking.
        AllowTlsResume = ClientCertificateMode == TlsClientCertificateMode.None,
        CertificateRevocationCheckMode = Common.RevocationMode,
        CertificateChainPolicy = Common.CreateChainPolicy(),
        RemoteCertificateValidationCallback = validate,
    };
}

/// <summary>Resolved client settings.</summary>
internal sealed class TlsClientSettings(TlsCommonSettings common, string? targetHost, TlsCertificate? clientCertificate)
{
    public TlsCommonSettings Common { get; } = common;

    /// <summary>The configured host name, or the host of the endpoint being connected to.</summary>
    public string TargetHostFor(EndPoint endPoint) => targetHost ?? endPoint switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => endPoint.ToString() ?? "",
    };

    public SslClientAuthenticationOptions CreateOptions(string targetHost, RemoteCertificateValidationCallback validate) => new()
    {
        TargetHost = targetHost,
        ClientCertificateContext = clientCertificate?.Context,
        EnabledSslProtocols = Common.Protocols,
        ApplicationProtocols = Common.Alpn,
        CertificateRevocationCheckMode = Common.RevocationMode,
        CertificateChainPolicy = Common.CreateChainPolicy(),
        RemoteCertificateValidationCallback = validate,
    };
}
