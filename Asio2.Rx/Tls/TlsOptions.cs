using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>
/// TLS settings shared by servers and clients: protocol versions, ALPN, the handshake timeout, and how the peer's
/// certificate is verified. Set an instance on a stream transport's options (<see cref="TcpServerOptions.Tls"/>,
/// <see cref="TcpClientOptions.Tls"/>) to run that transport over TLS.
/// </summary>
/// <remarks>Options are read once, when the server or client is created; later changes do not affect it.</remarks>
public abstract class TlsOptions
{
    private SslProtocols _enabledProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
    private TimeSpan _handshakeTimeout = TimeSpan.FromSeconds(10);

    private protected TlsOptions()
    {
    }

    /// <summary>TLS versions this side accepts. Defaults to TLS 1.2 and 1.3: older versions have known weaknesses
    /// (RFC 8996 deprecates 1.0 and 1.1). <see cref="SslProtocols.None"/> lets the operating system choose.</summary>
    public SslProtocols EnabledProtocols
    {
        get => _enabledProtocols;
        set
        {
#pragma warning disable CS0618, SYSLIB0039 // the obsolete values are named here precisely to refuse them
            if ((value & (SslProtocols.Ssl2 | SslProtocols.Ssl3)) != 0)
                throw new ArgumentOutOfRangeException(nameof(value), value, "SSL 2.0 and 3.0 are broken and not supported.");
#pragma warning restore CS0618, SYSLIB0039
            _enabledProtocols = value;
        }
    }

    /// <summary>Application protocols offered (client) or accepted (server) with ALPN, in order of preference, e.g.
    /// "h2", "http/1.1". Defaults to empty (no ALPN). When both sides offer protocols and none is common, the
    /// handshake fails with <see cref="TlsHandshakeError.NoCommonProtocol"/>.</summary>
    public IList<string> ApplicationProtocols { get; set; } = new List<string>();

    /// <summary>A handshake that has not finished after this long closes the session with
    /// <see cref="CloseKind.HandshakeTimeout"/>. Measured on the session's scheduler, so a <c>TestScheduler</c> drives it.
    /// Defaults to 10 s: far more than a real handshake takes, short enough that silent peers do not pile up.</summary>
    public TimeSpan HandshakeTimeout
    {
        get => _handshakeTimeout;
        set { ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero); _handshakeTimeout = value; }
    }

    /// <summary>
    /// Certificate authorities, as PEM text (one or more <c>-----BEGIN CERTIFICATE-----</c> blocks), that the peer's
    /// certificate must chain to, instead of the operating system's trust store: a private CA. Defaults to null
    /// (system trust).
    /// </summary>
    public string? TrustedCaPem { get; set; }

    /// <summary>
    /// Has the last word on the peer's certificate: it receives the certificate, its chain, and the built-in verdict
    /// (<see cref="TlsCertificateCheck.PolicyErrors"/>, from system trust or <see cref="TrustedCaPem"/>), and returns
    /// true to accept. Runs during the handshake on an I/O thread; keep it quick. Defaults to null: accept exactly when
    /// the built-in verdict has no errors.
    /// </summary>
    public Func<TlsCertificateCheck, bool>? RemoteCertificateValidation { get; set; }

    /// <summary>Whether the peer's certificate is checked for revocation. Defaults to
    /// <see cref="X509RevocationMode.NoCheck"/> (as <c>SslStream</c>): online checks can stall a handshake for seconds.</summary>
    public X509RevocationMode RevocationMode { get; set; } = X509RevocationMode.NoCheck;

    /// <summary>True when this side skips verifying the peer entirely (the loudly named opt-outs).</summary>
    private protected abstract bool AcceptsAnyCertificate { get; }

    internal TlsCommonSettings ResolveCommon()
    {
        var alpn = ApplicationProtocols.Select(p =>
        {
            if (string.IsNullOrEmpty(p) || System.Text.Encoding.UTF8.GetByteCount(p) > 255)
                throw new ArgumentException($"ALPN protocol '{p}' must be 1 to 255 bytes.", nameof(ApplicationProtocols));
            return new System.Net.Security.SslApplicationProtocol(p);
        }).ToList();
        X509Certificate2Collection? trusted = null;
        if (TrustedCaPem is { } pem)
        {
            trusted = new X509Certificate2Collection();
            trusted.ImportFromPem(pem);
            if (trusted.Count == 0)
                throw new ArgumentException("TrustedCaPem holds no '-----BEGIN CERTIFICATE-----' block.", nameof(TrustedCaPem));
        }
        return new TlsCommonSettings(_enabledProtocols, alpn, _handshakeTimeout, trusted, RemoteCertificateValidation, RevocationMode, AcceptsAnyCertificate);
    }
}

/// <summary>Whether a TLS server asks clients for a certificate.</summary>
public enum TlsClientCertificateMode
{
    /// <summary>Clients are not asked for a certificate (the usual case).</summary>
    None,
    /// <summary>Clients are asked; one that sends none is accepted, one that sends a certificate must pass verification.</summary>
    Optional,
    /// <summary>Clients must send a certificate that passes verification (mutual TLS); without one the handshake fails
    /// with <see cref="TlsHandshakeError.ClientCertificateRequired"/>.</summary>
    Required,
}

/// <summary>TLS settings of a server: its certificate(s), SNI selection and client-certificate policy.</summary>
/// <example>
/// <code>
/// var tls = new TlsServerOptions
/// {
///     Certificate = TlsCertificate.FromPemFiles("cert.pem", "key.pem"),
///     SniCertificates = { ["api.example.com"] = TlsCertificate.FromPfx("api.pfx", "secret") },
///     ApplicationProtocols = { "myproto/1" },
/// };
/// using var server = new TcpServer(new TcpServerOptions { Tls = tls });
/// </code>
/// </example>
public sealed class TlsServerOptions : TlsOptions
{
    /// <summary>The certificate presented when the client names no host (no SNI) or a host not in
    /// <see cref="SniCertificates"/>. Defaults to null; then every client must name a host in <see cref="SniCertificates"/>,
    /// and one that does not fails with <see cref="TlsHandshakeError.UnknownServerName"/>.</summary>
    public TlsCertificate? Certificate { get; set; }

    /// <summary>Certificates chosen by the host name the client sends (SNI), case-insensitively. A key
    /// "*.example.com" matches one label ("a.example.com", not "a.b.example.com"); exact names win over wildcards.
    /// Defaults to empty.</summary>
    public IDictionary<string, TlsCertificate> SniCertificates { get; set; } = new Dictionary<string, TlsCertificate>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether clients are asked for a certificate. Defaults to <see cref="TlsClientCertificateMode.None"/>.
    /// When clients are asked, TLS session resumption is turned off: a resumed session does not carry the client's
    /// intermediate certificates, so its certificate could not be verified again.</summary>
    public TlsClientCertificateMode ClientCertificateMode { get; set; } = TlsClientCertificateMode.None;

    /// <summary>
    /// DANGER: accept any client certificate without verifying it (expired, self-signed, from anyone). Only the
    /// client's possession of the key is proven, not who it is. For tests; never in production. Defaults to false.
    /// </summary>
    public bool DangerousAcceptAnyClientCertificate { get; set; }

    private protected override bool AcceptsAnyCertificate => DangerousAcceptAnyClientCertificate;

    internal TlsServerSettings Resolve()
    {
        if (Certificate is null && SniCertificates.Count == 0)
            throw new ArgumentException("TLS server options need a Certificate or at least one SniCertificates entry.", nameof(Certificate));
        foreach (var (host, cert) in SniCertificates)
        {
            if (string.IsNullOrWhiteSpace(host)) throw new ArgumentException("An SNI host name is empty.", nameof(SniCertificates));
            ArgumentNullException.ThrowIfNull(cert, $"{nameof(SniCertificates)}[{host}]");
        }
        return new TlsServerSettings(ResolveCommon(), Certificate, SniCertificates, ClientCertificateMode);
    }
}

/// <summary>TLS settings of a client: the host name it expects, how it verifies the server, and its own certificate.</summary>
/// <example>
/// <code>
/// var client = new TcpClient(new TcpClientOptions
/// {
///     Tls = new TlsClientOptions { TrustedCaPem = File.ReadAllText("my-ca.pem") },
/// });
/// await client.Connect("server.internal", 7000);
/// </code>
/// </example>
public sealed class TlsClientOptions : TlsOptions
{
    /// <summary>The host name sent with SNI and checked against the server's certificate. Defaults to null: the
    /// host given to <c>Connect</c> (an IP address is checked against the certificate's IP entries and sends no SNI).</summary>
    public string? TargetHost { get; set; }

    /// <summary>The certificate this client presents when the server asks for one. Defaults to null (none).</summary>
    public TlsCertificate? ClientCertificate { get; set; }

    /// <summary>
    /// DANGER: accept any server certificate without verifying it (wrong name, expired, self-signed, anyone's).
    /// The connection is encrypted but not authenticated: anyone on the path can read and change it. For tests
    /// against throw-away servers; never in production. Defaults to false.
    /// </summary>
    public bool DangerousAcceptAnyServerCertificate { get; set; }

    private protected override bool AcceptsAnyCertificate => DangerousAcceptAnyServerCertificate;

    internal TlsClientSettings Resolve() => new(ResolveCommon(), TargetHost, ClientCertificate);
}
