using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx.Tests.Secure;

/// <summary>A certificate issued at test run time: the certificate, its key, and both as PEM text.</summary>
internal sealed record Issued(X509Certificate2 Certificate, AsymmetricAlgorithm Key, string CertificatePem, string KeyPem)
{
    /// <summary>The PKCS#8 key encrypted with <paramref name="password"/>.</summary>
    public string EncryptedKeyPem(string password) => Key switch
    {
        ECDsa ec => ec.ExportEncryptedPkcs8PrivateKeyPem(password, Pbe),
        RSA rsa => rsa.ExportEncryptedPkcs8PrivateKeyPem(password, Pbe),
        _ => throw new NotSupportedException(),
    };

    private static readonly PbeParameters Pbe = new(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000);

    /// <summary>The certificate with its private key attached (what a PFX holds).</summary>
    public X509Certificate2 WithKey() => Key switch
    {
        ECDsa ec => Certificate.CopyWithPrivateKey(ec),
        RSA rsa => Certificate.CopyWithPrivateKey(rsa),
        _ => throw new NotSupportedException(),
    };
}

/// <summary>
/// A throw-away PKI made with <see cref="CertificateRequest"/> when the tests run (nothing is committed): a root CA,
/// an intermediate CA, and leaves for servers and clients, plus PEM files in a temp directory for openssl.
/// </summary>
internal sealed class TestPki
{
    private static readonly Lazy<TestPki> s_shared = new(() => new TestPki());

    /// <summary>One PKI for the whole run: key generation is the slow part.</summary>
    public static TestPki Shared => s_shared.Value;

    private TestPki()
    {
        Directory = Path.Combine(Path.GetTempPath(), "asio2rx-tls-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        };
        Root = CreateCa("Asio2.Rx Test Root", issuer: null);
        Intermediate = CreateCa("Asio2.Rx Test Intermediate", Root);
        Server = Issue("localhost", server: true);
        Client = Issue("test-client", server: false);
        OtherRoot = CreateCa("Somebody Else's Root", issuer: null);
    }

    public string Directory { get; }
    public Issued Root { get; }
    public Issued Intermediate { get; }
    public Issued OtherRoot { get; }

    /// <summary>"localhost", 127.0.0.1 and ::1, issued by the intermediate.</summary>
    public Issued Server { get; }

    /// <summary>A client-auth certificate issued by the intermediate.</summary>
    public Issued Client { get; }

    /// <summary>What a client trusts: the root only (so the server must send the intermediate).</summary>
    public string RootPem => Root.CertificatePem;

    /// <summary>The server certificate as a server presents it: leaf plus intermediate.</summary>
    public TlsCertificate ServerTls => TlsCertificate.FromPem(Server.CertificatePem + Intermediate.CertificatePem, Server.KeyPem);

    public TlsCertificate ClientTls => TlsCertificate.FromPem(Client.CertificatePem + Intermediate.CertificatePem, Client.KeyPem);

    public Issued Issue(string name, bool server = true, Issued? issuer = null, DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null, bool rsa = false, string[]? dnsNames = null)
    {
        issuer ??= Intermediate;
        AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = rsa
            ? new CertificateRequest($"CN={name}", (RSA)key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={name}", (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames ?? [name]) san.AddDnsName(dns);
        if (server)
        {
            san.AddIpAddress(IPAddress.Loopback);
            san.AddIpAddress(IPAddress.IPv6Loopback);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | (rsa ? X509KeyUsageFlags.KeyEncipherment : X509KeyUsageFlags.KeyAgreement), true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
        // The issuers are ECDSA; an explicit signature generator lets them sign RSA leaves too.
        var certificate = request.Create(issuer.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa((ECDsa)issuer.Key),
            notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30), Serial());
        return ToIssued(certificate, key);
    }

    /// <summary>Writes PEM text to a file in <see cref="Directory"/> and returns its path.</summary>
    public string Write(string fileName, string pem)
    {
        var path = Path.Combine(Directory, fileName);
        File.WriteAllText(path, pem);
        return path;
    }

    private static Issued CreateCa(string name, Issued? issuer)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, issuer is null ? false : true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var notBefore = DateTimeOffset.UtcNow.AddDays(issuer is null ? -365 : -300);
        var notAfter = DateTimeOffset.UtcNow.AddYears(issuer is null ? 5 : 4);
        X509Certificate2 certificate;
        if (issuer is null)
        {
            using var self = request.CreateSelfSigned(notBefore, notAfter);
            certificate = X509CertificateLoader.LoadCertificate(self.RawData);
        }
        else
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
            certificate = request.Create(issuer.WithKey(), notBefore, notAfter, Serial());
        }
        return ToIssued(certificate, key);
    }

    private static Issued ToIssued(X509Certificate2 certificate, AsymmetricAlgorithm key) => new(
        certificate,
        key,
        certificate.ExportCertificatePem() + "\n",
        key switch
        {
            ECDsa ec => ec.ExportPkcs8PrivateKeyPem(),
            RSA rsa => rsa.ExportPkcs8PrivateKeyPem(),
            _ => throw new NotSupportedException(),
        } + "\n");

    private static byte[] Serial()
    {
        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f; // positive
        return serial;
    }
}
