using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>
/// A certificate with its private key and the chain certificates sent with it: what a TLS server (or a client that
/// authenticates itself) presents. Made from PEM text, PEM files, a PKCS#12 (PFX) file or an <see cref="X509Certificate2"/>.
/// </summary>
/// <example>
/// <code>
/// var cert = TlsCertificate.FromPemFiles("/etc/ssl/fullchain.pem", "/etc/ssl/privkey.pem");
/// var server = new TcpServer(new TcpServerOptions { Tls = new TlsServerOptions { Certificate = cert } });
/// </code>
/// </example>
/// <remarks>
/// <para>PEM private keys (PKCS#8 <c>PRIVATE KEY</c>, <c>ENCRYPTED PRIVATE KEY</c>, <c>RSA PRIVATE KEY</c>, <c>EC PRIVATE KEY</c>)
/// are used as loaded, with no PKCS#12 round trip: on Linux and macOS <c>SslStream</c> accepts the in-memory key as
/// it is. Only on Windows, where SChannel cannot use an ephemeral key, the certificate is re-imported through
/// PKCS#12 once, here, so callers never do it by hand.</para>
/// <para>Instances are immutable and thread-safe; one can serve any number of servers and connections. The chain is
/// built once (offline: no certificate downloads) the first time a handshake needs it.</para>
/// </remarks>
public sealed class TlsCertificate
{
    private readonly Lazy<SslStreamCertificateContext> _context;

    private TlsCertificate(X509Certificate2 certificate, IEnumerable<X509Certificate2> chain)
    {
        if (!certificate.HasPrivateKey)
            throw new ArgumentException($"The certificate '{certificate.Subject}' has no private key; a TLS endpoint cannot present it.", nameof(certificate));
        Certificate = certificate;
        Chain = chain.ToArray();
        _context = new Lazy<SslStreamCertificateContext>(
            () => SslStreamCertificateContext.Create(Certificate, new X509Certificate2Collection(Chain.ToArray()), offline: true),
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The leaf certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Intermediate (and optionally root) certificates sent to the peer after the leaf, so it can build the
    /// path to a root it trusts.</summary>
    public IReadOnlyList<X509Certificate2> Chain { get; }

    /// <summary>The pre-built certificate context every handshake reuses.</summary>
    internal SslStreamCertificateContext Context => _context.Value;

    /// <summary>
    /// Loads a certificate from PEM text. <paramref name="certificatePem"/> holds the leaf certificate first and then,
    /// optionally, its chain (a "fullchain" file); <paramref name="privateKeyPem"/> holds the leaf's private key,
    /// encrypted (<c>ENCRYPTED PRIVATE KEY</c>, pass <paramref name="password"/>) or not.
    /// </summary>
    /// <exception cref="ArgumentException">No certificate in the text, no key, an encrypted key without a password,
    /// or a key that does not belong to the certificate.</exception>
    /// <exception cref="CryptographicException">The password is wrong or the key is damaged.</exception>
    public static TlsCertificate FromPem(string certificatePem, string privateKeyPem, string? password = null)
    {
        ArgumentNullException.ThrowIfNull(certificatePem);
        ArgumentNullException.ThrowIfNull(privateKeyPem);
        var all = ReadCertificates(certificatePem, nameof(certificatePem));
        bool encrypted = IsEncrypted(privateKeyPem, password, nameof(privateKeyPem));
        X509Certificate2 leaf;
        try
        {
            leaf = encrypted
                ? X509Certificate2.CreateFromEncryptedPem(certificatePem, privateKeyPem, password)
                : X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        }
        catch (Exception e) when (e is ArgumentException || (e is CryptographicException && !encrypted))
        {
            // An encrypted key's CryptographicException (usually a wrong password) is passed through as it is.
            throw new ArgumentException($"The private key could not be used with the certificate '{all[0].Subject}': {e.Message}", nameof(privateKeyPem), e);
        }
        all.RemoveAt(0);
        return new TlsCertificate(ForSslStream(leaf), all);
    }

    /// <summary>
    /// Loads a certificate from PEM files: <paramref name="certificatePath"/> with the leaf first and optionally its
    /// chain, <paramref name="privateKeyPath"/> with the private key (null: the key is in the certificate file).
    /// </summary>
    public static TlsCertificate FromPemFiles(string certificatePath, string? privateKeyPath = null, string? password = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePath);
        string certificatePem = File.ReadAllText(certificatePath);
        string keyPem = privateKeyPath is null ? certificatePem : File.ReadAllText(privateKeyPath);
        return FromPem(certificatePem, keyPem, password);
    }

    /// <summary>Loads a PKCS#12 (PFX) file: the certificate that has a private key is the leaf; the file's other
    /// certificates are its chain.</summary>
    /// <exception cref="CryptographicException">The password is wrong or the file is not PKCS#12.</exception>
    public static TlsCertificate FromPfx(string path, string? password = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return FromPfx(File.ReadAllBytes(path), password);
    }

    /// <summary>Loads PKCS#12 (PFX) bytes: the certificate that has a private key is the leaf; the others are its chain.</summary>
    public static TlsCertificate FromPfx(byte[] pfx, string? password = null)
    {
        ArgumentNullException.ThrowIfNull(pfx);
        // EphemeralKeySet keeps the key in memory only (nothing written to disk); SChannel (Windows) cannot use such
        // keys and macOS does not support the flag, so there the default key set is used.
        var flags = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet;
        var all = X509CertificateLoader.LoadPkcs12Collection(pfx, password, flags);
        X509Certificate2? leaf = null;
        var chain = new X509Certificate2Collection();
        foreach (var c in all)
        {
            if (leaf is null && c.HasPrivateKey) leaf = c;
            else chain.Add(c);
        }
        if (leaf is null) throw new ArgumentException("The PKCS#12 data holds no certificate with a private key.", nameof(pfx));
        return new TlsCertificate(leaf, chain);
    }

    /// <summary>Uses a certificate you already have (it must carry its private key), with optional chain certificates.</summary>
    public static TlsCertificate FromCertificate(X509Certificate2 certificate, IEnumerable<X509Certificate2>? chain = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var collection = new X509Certificate2Collection();
        if (chain is not null) foreach (var c in chain) collection.Add(c);
        return new TlsCertificate(ForSslStream(certificate), collection);
    }

    /// <summary>A copy of this certificate that also sends <paramref name="chain"/> (appended to the current chain).</summary>
    public TlsCertificate WithChain(params X509Certificate2[] chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return new TlsCertificate(Certificate, [.. Chain, .. chain]);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Certificate.Subject} (chain: {Chain.Count}, expires {Certificate.NotAfter:u})";

    private static List<X509Certificate2> ReadCertificates(string pem, string paramName)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"The PEM text holds a damaged certificate: {e.Message}", paramName, e);
        }
        if (collection.Count == 0) throw new ArgumentException("The PEM text holds no '-----BEGIN CERTIFICATE-----' block.", paramName);
        return [.. collection];
    }

    private static bool IsEncrypted(string keyPem, string? password, string paramName)
    {
        if (keyPem.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
            throw new ArgumentException(
                "The key is in the legacy OpenSSL encrypted format ('Proc-Type: 4,ENCRYPTED'), which .NET cannot read; " +
                "convert it to PKCS#8 with 'openssl pkcs8 -topk8 -in key.pem -out key8.pem' (add -nocrypt for no password).", paramName);
        if (!keyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal)) return false;
        if (password is null) throw new ArgumentException("The private key is encrypted; pass its password.", paramName);
        return true;
    }

    /// <summary>
    /// SChannel (Windows) cannot use a key that lives only in memory, which is what PEM loading gives; a PKCS#12 round
    /// trip persists it. OpenSSL (Linux) and Apple's stack use the key as it is, so elsewhere this is a no-op.
    /// </summary>
    private static X509Certificate2 ForSslStream(X509Certificate2 certificate)
    {
        if (!OperatingSystem.IsWindows()) return certificate;
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
