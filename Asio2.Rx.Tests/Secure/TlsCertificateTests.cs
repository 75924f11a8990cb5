using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx.Tests.Secure;

public class TlsCertificateTests
{
    private static TestPki Pki => TlsKit.Pki;

    /// <summary>Serves one echo with <paramref name="certificate"/> and a client trusting the test root: proves the key
    /// loaded is usable by SslStream as loaded (no PKCS#12 export by hand).</summary>
    private static async Task AssertServes(TlsCertificate certificate)
    {
        await using var server = new TlsEchoServer(new TlsServerOptions { Certificate = certificate });
        await using var client = TlsKit.Client(TlsKit.ClientOptions());
        Assert.Equal("pem works", (await TlsKit.EchoOnce(client, server.Port, "pem works")).Echo);
    }

    [Fact]
    public async Task FromPem_Pkcs8EcKey_WithFullChain_ServesAHandshake()
    {
        var cert = TlsCertificate.FromPem(Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem, Pki.Server.KeyPem);

        Assert.True(cert.Certificate.HasPrivateKey);
        Assert.Equal("CN=localhost", cert.Certificate.Subject);
        Assert.Equal(Pki.Intermediate.Certificate.Thumbprint, Assert.Single(cert.Chain).Thumbprint);
        await AssertServes(cert);
    }

    [Fact]
    public async Task FromPem_RsaKeyInPkcs1Format_ServesAHandshake()
    {
        var leaf = Pki.Issue("localhost", rsa: true);
        string pkcs1 = ((RSA)leaf.Key).ExportRSAPrivateKeyPem(); // "-----BEGIN RSA PRIVATE KEY-----", what openssl genrsa writes

        await AssertServes(TlsCertificate.FromPem(leaf.CertificatePem + Pki.Intermediate.CertificatePem, pkcs1));
    }

    [Fact]
    public async Task FromPem_SecKeyFormat_ServesAHandshake()
    {
        string sec1 = ((ECDsa)Pki.Server.Key).ExportECPrivateKeyPem(); // "-----BEGIN EC PRIVATE KEY-----"

        await AssertServes(TlsCertificate.FromPem(Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem, sec1));
    }

    [Fact]
    public async Task FromPem_EncryptedKey_WithItsPassword_ServesAHandshake()
    {
        string encrypted = Pki.Server.EncryptedKeyPem("s3cret");
        Assert.Contains("ENCRYPTED PRIVATE KEY", encrypted);

        await AssertServes(TlsCertificate.FromPem(Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem, encrypted, "s3cret"));
    }

    [Fact]
    public void FromPem_EncryptedKey_WithoutPassword_SaysAPasswordIsNeeded()
    {
        var ex = Assert.Throws<ArgumentException>(() => TlsCertificate.FromPem(Pki.Server.CertificatePem, Pki.Server.EncryptedKeyPem("s3cret")));
        Assert.Contains("encrypted; pass its password", ex.Message);
    }

    [Fact]
    public void FromPem_EncryptedKey_WithTheWrongPassword_ThrowsCryptographicException()
    {
        Assert.ThrowsAny<CryptographicException>(() => TlsCertificate.FromPem(Pki.Server.CertificatePem, Pki.Server.EncryptedKeyPem("s3cret"), "wrong"));
    }

    [Fact]
    public void FromPem_LegacyOpenSslEncryptedKey_ExplainsHowToConvertIt()
    {
        const string legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        var ex = Assert.Throws<ArgumentException>(() => TlsCertificate.FromPem(Pki.Server.CertificatePem, legacy, "pw"));
        Assert.Contains("openssl pkcs8 -topk8", ex.Message);
    }

    [Fact]
    public void FromPem_KeyOfAnotherCertificate_IsRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => TlsCertificate.FromPem(Pki.Server.CertificatePem, Pki.Client.KeyPem));
        Assert.Contains("CN=localhost", ex.Message);
    }

    [Fact]
    public void FromPem_TextWithoutACertificate_IsRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => TlsCertificate.FromPem("just text", Pki.Server.KeyPem));
        Assert.Contains("BEGIN CERTIFICATE", ex.Message);
        Assert.Throws<ArgumentException>(() => TlsCertificate.FromPem(Pki.Server.CertificatePem, "no key here"));
    }

    [Fact]
    public async Task FromPemFiles_SeparateFiles_AndOneCombinedFile_BothServe()
    {
        string certPath = Pki.Write("files-cert.pem", Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem);
        string keyPath = Pki.Write("files-key.pem", Pki.Server.KeyPem);
        string combined = Pki.Write("files-combined.pem", Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem + Pki.Server.KeyPem);

        var separate = TlsCertificate.FromPemFiles(certPath, keyPath);
        var together = TlsCertificate.FromPemFiles(combined);

        Assert.Single(separate.Chain);
        Assert.Single(together.Chain);
        await AssertServes(separate);
        await AssertServes(together);
    }

    [Fact]
    public async Task FromPemFiles_EncryptedKeyFile_WithPassword_Serves()
    {
        string certPath = Pki.Write("enc-cert.pem", Pki.Server.CertificatePem + Pki.Intermediate.CertificatePem);
        string keyPath = Pki.Write("enc-key.pem", Pki.Server.EncryptedKeyPem("pw"));

        await AssertServes(TlsCertificate.FromPemFiles(certPath, keyPath, "pw"));
    }

    [Fact]
    public async Task FromPfx_WithPasswordAndChain_FromBytesAndFromFile_Serve()
    {
        var collection = new X509Certificate2Collection { Pki.Server.WithKey(), Pki.Intermediate.Certificate };
        byte[] pfx = collection.Export(X509ContentType.Pkcs12, "pfx-pass")!;
        string path = Path.Combine(Pki.Directory, "server.pfx");
        File.WriteAllBytes(path, pfx);

        var fromBytes = TlsCertificate.FromPfx(pfx, "pfx-pass");
        var fromFile = TlsCertificate.FromPfx(path, "pfx-pass");

        Assert.Equal("CN=localhost", fromBytes.Certificate.Subject);
        Assert.Equal(Pki.Intermediate.Certificate.Thumbprint, Assert.Single(fromBytes.Chain).Thumbprint);
        await AssertServes(fromBytes);
        await AssertServes(fromFile);
        Assert.ThrowsAny<CryptographicException>(() => TlsCertificate.FromPfx(pfx, "wrong"));
    }

    [Fact]
    public void FromPfx_WithoutAPrivateKey_IsRefused()
    {
        var collection = new X509Certificate2Collection { Pki.Intermediate.Certificate };
        byte[] pfx = collection.Export(X509ContentType.Pkcs12, "pw")!;
        var ex = Assert.Throws<ArgumentException>(() => TlsCertificate.FromPfx(pfx, "pw"));
        Assert.Contains("no certificate with a private key", ex.Message);
    }

    [Fact]
    public async Task FromCertificate_WithChain_AndWithChainAppends_Serve()
    {
        var bare = TlsCertificate.FromCertificate(Pki.Server.WithKey());
        Assert.Empty(bare.Chain);
        var withChain = bare.WithChain(Pki.Intermediate.Certificate);
        Assert.Single(withChain.Chain);
        await AssertServes(withChain);
        await AssertServes(TlsCertificate.FromCertificate(Pki.Server.WithKey(), [Pki.Intermediate.Certificate]));
        Assert.Throws<ArgumentException>(() => TlsCertificate.FromCertificate(Pki.Server.Certificate)); // no key
    }
}
