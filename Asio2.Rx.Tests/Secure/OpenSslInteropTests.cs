using System.Reactive.Linq;
using System.Security.Authentication;

namespace Asio2.Rx.Tests.Secure;

/// <summary>Our server against <c>openssl s_client</c>, our client against <c>openssl s_server</c>.</summary>
public class OpenSslInteropTests
{
    private static TestPki Pki => TlsKit.Pki;

    private static string RootFile => Pki.Write("root.pem", Pki.RootPem);

    [PeerFact("openssl")]
    public async Task OpenSslClient_VerifiesOurChainAndName_AndGetsItsLinesEchoed()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        await using var openssl = OpenSslProcess.Start(
            "s_client", "-connect", $"127.0.0.1:{server.Port}", "-servername", "localhost",
            "-CAfile", RootFile, "-verify_return_error", "-verify_hostname", "localhost", "-quiet");

        await openssl.WriteLineAsync("hello from openssl");
        Assert.Equal("hello from openssl", await openssl.ReadLineAsync("the echo"));
        await openssl.WriteLineAsync("second line");
        Assert.Equal("second line", await openssl.ReadLineAsync("the second echo"));

        var info = await server.FirstHandshake();
        Assert.Equal("localhost", info.HostName);
        Assert.Equal(SslProtocols.Tls13, info.Protocol);
    }

    [PeerFact("openssl")]
    public async Task OpenSslClient_Tls12WithAlpnAndAClientCertificate_IsAcceptedAndSeen()
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Required;
        tls.TrustedCaPem = Pki.RootPem;
        tls.ApplicationProtocols = ["echo/1"];
        await using var server = new TlsEchoServer(tls);
        string cert = Pki.Write("client-cert.pem", Pki.Client.CertificatePem);
        string key = Pki.Write("client-key.pem", Pki.Client.KeyPem);
        string chain = Pki.Write("intermediate.pem", Pki.Intermediate.CertificatePem);
        await using var openssl = OpenSslProcess.Start(
            "s_client", "-connect", $"127.0.0.1:{server.Port}", "-servername", "localhost", "-tls1_2", "-alpn", "echo/1",
            "-cert", cert, "-key", key, "-cert_chain", chain, "-CAfile", RootFile, "-verify_return_error", "-quiet");

        await openssl.WriteLineAsync("mutual over 1.2");
        Assert.Equal("mutual over 1.2", await openssl.ReadLineAsync("the echo"));

        var info = await server.FirstHandshake();
        Assert.Equal(SslProtocols.Tls12, info.Protocol);
        Assert.Equal("echo/1", info.ApplicationProtocol);
        Assert.Equal("CN=test-client", info.PeerCertificate!.Subject);
    }

    [PeerFact("openssl")]
    public async Task OpenSslClient_WithoutTheRequiredCertificate_IsClosedWithClientCertificateRequired()
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Required;
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        await using var openssl = OpenSslProcess.Start("s_client", "-connect", $"127.0.0.1:{server.Port}", "-servername", "localhost", "-quiet");

        var reason = await server.Closes.First("the server's close");

        Assert.Equal(TlsHandshakeError.ClientCertificateRequired, reason.TlsError());
    }

    [PeerTheory("openssl")]
    [InlineData("-tls1_2")]
    [InlineData("-tls1_3")]
    public async Task OpenSslClient_ThatDoesNotTrustOurCertificate_IsSeenAsRejectedByPeer(string version)
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        string otherRoot = Pki.Write("other-root.pem", Pki.OtherRoot.CertificatePem);
        // openssl sends an "unknown CA" alert; under TLS 1.3 it arrives after our side already finished.
        await using var openssl = OpenSslProcess.Start(
            "s_client", "-connect", $"127.0.0.1:{server.Port}", "-servername", "localhost", version,
            "-CAfile", otherRoot, "-verify_return_error", "-quiet");

        var reason = await server.Closes.First("the server's close");

        Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
        Assert.Equal(TlsHandshakeError.RejectedByPeer, reason.TlsError());
        Assert.Contains("unknown ca", reason.Message);
    }

    [PeerFact("openssl")]
    public async Task OpenSslClient_OfferingOnlyTls11_IsRefusedWithNoCommonProtocol()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        // SECLEVEL=0 lets OpenSSL 3 send a TLS 1.1 ClientHello at all; our default (1.2 and 1.3 only) must refuse it.
        await using var openssl = OpenSslProcess.Start(
            "s_client", "-connect", $"127.0.0.1:{server.Port}", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-quiet");

        var reason = await server.Closes.First("the server's close");

        Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
        Assert.Equal(TlsHandshakeError.NoCommonProtocol, reason.TlsError());
    }

    [PeerFact("openssl")]
    public async Task OurClient_AgainstOpenSslServer_VerifiesItAndEchoes()
    {
        string cert = Pki.Write("server-cert.pem", Pki.Server.CertificatePem);
        string key = Pki.Write("server-key.pem", Pki.Server.KeyPem);
        string chain = Pki.Write("server-chain.pem", Pki.Intermediate.CertificatePem);
        var (openssl, port) = await OpenSslProcess.StartServerAsync("-cert", cert, "-key", key, "-cert_chain", chain, "-alpn", "h2,echo/1", "-rev");
        await using var _ = openssl;
        var options = TlsKit.ClientOptions();
        options.ApplicationProtocols = ["echo/1"];
        await using var client = TlsKit.Client(options);

        var (session, echo) = await TlsKit.EchoOnce(client, port, "hello openssl");

        Assert.Equal("lssnepo olleh", echo); // s_server -rev sends each line back reversed
        var info = session.TlsInfo()!;
        Assert.Equal(SslProtocols.Tls13, info.Protocol);
        Assert.Equal("echo/1", info.ApplicationProtocol);
        Assert.Equal("CN=localhost", info.PeerCertificate!.Subject);
    }

    [PeerFact("openssl")]
    public async Task OurClient_WithACertificate_AgainstOpenSslServerRequiringOne_Echoes()
    {
        string cert = Pki.Write("server-cert.pem", Pki.Server.CertificatePem);
        string key = Pki.Write("server-key.pem", Pki.Server.KeyPem);
        string chain = Pki.Write("server-chain.pem", Pki.Intermediate.CertificatePem);
        var (openssl, port) = await OpenSslProcess.StartServerAsync(
            "-cert", cert, "-key", key, "-cert_chain", chain, "-Verify", "2", "-CAfile", RootFile, "-verify_return_error", "-rev");
        await using var _ = openssl;
        var options = TlsKit.ClientOptions();
        options.ClientCertificate = Pki.ClientTls;
        await using var client = TlsKit.Client(options);

        var (_, echo) = await TlsKit.EchoOnce(client, port, "abc");

        Assert.Equal("cba", echo);
    }

    [PeerFact("openssl")]
    public async Task OurClient_WithoutACertificate_AgainstOpenSslServerRequiringOne_ClosesWithClientCertificateRequired()
    {
        string cert = Pki.Write("server-cert.pem", Pki.Server.CertificatePem);
        string key = Pki.Write("server-key.pem", Pki.Server.KeyPem);
        string chain = Pki.Write("server-chain.pem", Pki.Intermediate.CertificatePem);
        var (openssl, port) = await OpenSslProcess.StartServerAsync(
            "-cert", cert, "-key", key, "-cert_chain", chain, "-Verify", "1", "-CAfile", RootFile, "-rev");
        await using var _ = openssl;

        // TLS 1.3: the client finishes first and learns of the refusal from the server's alert on its first read.
        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), port);

        Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
        Assert.Equal(TlsHandshakeError.ClientCertificateRequired, reason.TlsError());
    }

    [PeerFact("openssl")]
    public async Task OurClient_AgainstOpenSslServerWithAnUntrustedCertificate_ClosesWithUntrustedCertificate()
    {
        var stranger = Pki.Issue("localhost", issuer: Pki.OtherRoot);
        string cert = Pki.Write("stranger-cert.pem", stranger.CertificatePem);
        string key = Pki.Write("stranger-key.pem", stranger.KeyPem);
        var (openssl, port) = await OpenSslProcess.StartServerAsync("-cert", cert, "-key", key, "-rev");
        await using var _ = openssl;

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), port);

        Assert.Equal(TlsHandshakeError.UntrustedCertificate, reason.TlsError());
    }
}
