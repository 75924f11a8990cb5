using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx.Samples;

/// <summary>asio2's tcps server and client: the TCP echo over TLS, with a certificate made on the spot.</summary>
internal sealed class TlsSample : ISample
{
    public string Name => "tls";
    public string Description => "TLS echo server and client: self-signed certificate from PEM, private CA trust, handshake info";
    public int Order => 20;

    public async Task RunAsync(string[] args)
    {
        // A self-signed certificate as PEM text, the form certificates usually come in (certbot, openssl, a vault).
        var (certificatePem, keyPem) = CreateSelfSignedPem("localhost");

        // Server: setting Tls turns the TCP server into a TLS server; frames start after the handshake.
        await using var server = new TcpServer(new TcpServerOptions
        {
            Framing = Framing.Delimiter('\n'),
            Tls = new TlsServerOptions
            {
                Certificate = TlsCertificate.FromPem(certificatePem, keyPem),
                ApplicationProtocols = { "echo/1" },
            },
        });
        server.TlsHandshakes().Subscribe(h => Console.WriteLine($"server: handshake with {h.Session.RemoteEndPoint}: {h}"));
        server.Sessions.SelectMany(s => s.Closed.Select(reason => (s, reason)))
              .Subscribe(x => Console.WriteLine($"server: session {x.s.Id} closed ({x.reason})"));
        server.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Text + "\n")));
        var bound = server.Start("127.0.0.1", 0);
        Console.WriteLine($"server: listening on {bound} (TLS)");

        // First a client with the default verification, the system's trust store: the self-signed certificate is not
        // in it, so the handshake fails, with a typed reason on the session's Closed stream.
        await using (var strict = new TcpClient(new TcpClientOptions
        {
            Framing = Framing.Delimiter('\n'),
            Reconnect = { Enabled = false },
            Tls = new TlsClientOptions { TargetHost = "localhost" },
        }))
        {
            var session = await strict.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
            var reason = await session.Closed.Timeout(TimeSpan.FromSeconds(5));
            Console.WriteLine($"client with system trust: refused, {reason.TlsError()}: {reason.Message}");
        }

        // Then a client that trusts this certificate as its private CA.
        await using var client = new TcpClient(new TcpClientOptions
        {
            Framing = Framing.Delimiter('\n'),
            Tls = new TlsClientOptions
            {
                TargetHost = "localhost",
                TrustedCaPem = certificatePem,
                ApplicationProtocols = { "echo/1" },
            },
        });
        client.TlsHandshakes().Subscribe(h => Console.WriteLine($"client: handshake: {h}"));
        var replies = client.Frames.Select(f => f.Text).Take(3).Do(t => Console.WriteLine($"client: got '{t}'")).ToList().ToTask(); // subscribe now: Frames is hot
        await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        foreach (var word in new[] { "hello", "over", "tls" }) await client.Send(word + "\n");
        var got = await replies.WaitAsync(TimeSpan.FromSeconds(5));
        Console.WriteLine($"client: {got.Count} echoes received over {client.Session?.TlsInfo()?.Protocol}");
    }

    private static (string CertificatePem, string KeyPem) CreateSelfSignedPem(string host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        // Self-signed and used as its own CA by the client, so it is marked as a CA.
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }
}
