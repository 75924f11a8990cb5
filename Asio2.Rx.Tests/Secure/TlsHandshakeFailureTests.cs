using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Security.Authentication;
using System.Text;

namespace Asio2.Rx.Tests.Secure;

/// <summary>Every way a handshake goes wrong ends in its own typed reason, never a hang, and the server keeps serving.</summary>
public class TlsHandshakeFailureTests
{
    private static TestPki Pki => TlsKit.Pki;

    private static TlsServerOptions ServerWith(Issued leaf) =>
        new() { Certificate = TlsCertificate.FromPem(leaf.CertificatePem + Pki.Intermediate.CertificatePem, leaf.KeyPem) };

    /// <summary>The server still echoes for a good client after whatever happened before.</summary>
    private static async Task AssertStillServing(TlsEchoServer server)
    {
        await using var good = TlsKit.Client(TlsKit.ClientOptions());
        try
        {
            var (_, echo) = await TlsKit.EchoOnce(good, server.Port, "still serving");
            Assert.Equal("still serving", echo);
        }
        catch (TimeoutException e)
        {
            var closes = await server.Closes.Take(TimeSpan.FromMilliseconds(100)).ToList();
            throw new TimeoutException($"{e.Message}; server closes: {string.Join(" | ", closes)}", e);
        }
    }

    [Fact]
    public async Task PlaintextToATlsPort_ClosesWithNotTls_AndTheServerKeepsServing()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        using (var socket = await Wait.ConnectRaw(server.EndPoint))
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            var reason = await server.Closes.First("the server's close");
            Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
            Assert.Equal(TlsHandshakeError.NotTls, reason.TlsError());
            Assert.Contains("plaintext \"GET / HTTP/1.1", reason.Message);
            Assert.IsAssignableFrom<AuthenticationException>(reason.Exception);
        }
        await AssertStillServing(server);
    }

    [Fact]
    public async Task BinaryGarbageToATlsPort_ClosesWithNotTls()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(new byte[] { 0x00, 0xff, 0x13, 0x37, 0x42, 0x00, 0x01, 0x02 });
        var reason = await server.Closes.First("the server's close");
        Assert.Equal(TlsHandshakeError.NotTls, reason.TlsError());
        Assert.Contains("00FF1337", reason.Message);
    }

    [Fact]
    public async Task TruncatedClientHello_ThenClose_ClosesWithTruncated()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        using (var socket = await Wait.ConnectRaw(server.EndPoint))
        {
            // A handshake record header announcing 512 bytes, and only the first few of them.
            await socket.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 });
            socket.Shutdown(SocketShutdown.Send);
            var reason = await server.Closes.First("the server's close");
            Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
            Assert.Equal(TlsHandshakeError.Truncated, reason.TlsError());
            Assert.Contains("after 11 bytes", reason.Message);
        }
        await AssertStillServing(server);
    }

    [Fact]
    public async Task ClientThatStopsMidHandshake_ClosesWithHandshakeTimeout()
    {
        var tls = TlsKit.ServerOptions();
        tls.HandshakeTimeout = TimeSpan.FromMilliseconds(500);
        await using var server = new TlsEchoServer(tls);
        using (var socket = await Wait.ConnectRaw(server.EndPoint))
        {
            await socket.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 });
            var reason = await server.Closes.First("the server's close");
            Assert.Equal(CloseKind.HandshakeTimeout, reason.Kind);
            Assert.Equal(TlsHandshakeError.Timeout, reason.TlsError());
            // The server dropped the connection: the silent client sees it end.
            Assert.Empty(await ReadToEndOrReset(socket));
        }
        await AssertStillServing(server);
    }

    [Fact]
    public async Task ExpiredServerCertificate_ClientClosesWithCertificateExpired()
    {
        var expired = Pki.Issue("localhost", notBefore: DateTimeOffset.UtcNow.AddDays(-20), notAfter: DateTimeOffset.UtcNow.AddDays(-10));
        await using var server = new TlsEchoServer(ServerWith(expired));

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), server.Port);

        Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
        Assert.Equal(TlsHandshakeError.CertificateExpired, reason.TlsError());
        Assert.Contains("expired on", reason.Message);
    }

    [Fact]
    public async Task NotYetValidServerCertificate_ClientClosesWithCertificateExpired()
    {
        var future = Pki.Issue("localhost", notBefore: DateTimeOffset.UtcNow.AddDays(10), notAfter: DateTimeOffset.UtcNow.AddDays(20));
        await using var server = new TlsEchoServer(ServerWith(future));

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), server.Port);

        Assert.Equal(TlsHandshakeError.CertificateExpired, reason.TlsError());
        Assert.Contains("not valid before", reason.Message);
    }

    [Fact]
    public async Task ServerCertificateFromAnUnknownCa_ClientClosesWithUntrustedCertificate()
    {
        var stranger = Pki.Issue("localhost", issuer: Pki.OtherRoot);
        await using var server = new TlsEchoServer(new TlsServerOptions { Certificate = TlsCertificate.FromPem(stranger.CertificatePem, stranger.KeyPem) });

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), server.Port);

        Assert.Equal(TlsHandshakeError.UntrustedCertificate, reason.TlsError());
        Assert.Contains("TrustedCaPem", reason.Message);
    }

    [Fact]
    public async Task ServerCertificateForAnotherName_ClientClosesWithNameMismatch()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        var options = TlsKit.ClientOptions();
        options.TargetHost = "www.example.org";

        var reason = await TlsKit.ClientFailure(options, server.Port);

        Assert.Equal(TlsHandshakeError.NameMismatch, reason.TlsError());
        Assert.Contains("not valid for 'www.example.org'", reason.Message);
        Assert.Contains("localhost", reason.Message);
    }

    [Fact]
    public async Task RequiredClientCertificateMissing_ServerClosesWithClientCertificateRequired_AndKeepsServing()
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Required;
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        await using (var client = TlsKit.Client(TlsKit.ClientOptions()))
        {
            await client.Connect("127.0.0.1", server.Port).First("connection");
            var reason = await server.Closes.First("the server's close");
            Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
            Assert.Equal(TlsHandshakeError.ClientCertificateRequired, reason.TlsError());
        }
        var withCert = TlsKit.ClientOptions();
        withCert.ClientCertificate = Pki.ClientTls;
        await using var good = TlsKit.Client(withCert);
        Assert.Equal("ok", (await TlsKit.EchoOnce(good, server.Port, "ok")).Echo);
    }

    [Fact]
    public async Task ClientCertificateFromAnUnknownCa_ServerClosesWithUntrustedCertificate()
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Optional; // optional still verifies a certificate that is sent
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        var stranger = Pki.Issue("stranger", server: false, issuer: Pki.OtherRoot);
        var options = TlsKit.ClientOptions();
        options.ClientCertificate = TlsCertificate.FromPem(stranger.CertificatePem, stranger.KeyPem);
        await using var client = TlsKit.Client(options);
        await client.Connect("127.0.0.1", server.Port).First("connection");

        var reason = await server.Closes.First("the server's close");

        Assert.Equal(TlsHandshakeError.UntrustedCertificate, reason.TlsError());
        Assert.Contains("client's certificate 'CN=stranger'", reason.Message);
    }

    [Fact]
    public async Task NoCommonTlsVersion_ClosesBothSidesWithNoCommonProtocol()
    {
        var tls = TlsKit.ServerOptions();
        tls.EnabledProtocols = SslProtocols.Tls12;
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        options.EnabledProtocols = SslProtocols.Tls13;

        var clientReason = await TlsKit.ClientFailure(options, server.Port);
        var serverReason = await server.Closes.First("the server's close");

        Assert.Equal(TlsHandshakeError.NoCommonProtocol, clientReason.TlsError());
        Assert.Equal(TlsHandshakeError.NoCommonProtocol, serverReason.TlsError());
    }

    [Fact]
    public async Task NoCommonAlpnProtocol_ClosesWithNoCommonProtocol()
    {
        var tls = TlsKit.ServerOptions();
        tls.ApplicationProtocols = ["h2"];
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        options.ApplicationProtocols = ["myproto/1"];

        var clientReason = await TlsKit.ClientFailure(options, server.Port);

        Assert.Equal(TlsHandshakeError.NoCommonProtocol, clientReason.TlsError());
        Assert.Equal(TlsHandshakeError.NoCommonProtocol, (await server.Closes.First("the server's close")).TlsError());
    }

    [Fact]
    public async Task UnknownSniHost_WithoutADefaultCertificate_ClosesWithUnknownServerName()
    {
        var tls = new TlsServerOptions();
        tls.SniCertificates["localhost"] = Pki.ServerTls;
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        options.TargetHost = "elsewhere.test";

        await TlsKit.ClientFailure(options, server.Port);
        var reason = await server.Closes.First("the server's close");

        Assert.Equal(TlsHandshakeError.UnknownServerName, reason.TlsError());
        Assert.Contains("elsewhere.test", reason.Message);
        await AssertStillServing(server);
    }

    [Fact]
    public async Task ValidationCallbackThatRejects_OrThrows_ClosesWithCertificateRejected()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        var rejecting = TlsKit.ClientOptions();
        rejecting.RemoteCertificateValidation = _ => false;
        var throwing = TlsKit.ClientOptions();
        throwing.RemoteCertificateValidation = _ => throw new InvalidOperationException("validator bug");

        var rejected = await TlsKit.ClientFailure(rejecting, server.Port);
        var threw = await TlsKit.ClientFailure(throwing, server.Port);

        Assert.Equal(TlsHandshakeError.CertificateRejected, rejected.TlsError());
        Assert.Contains("rejected the certificate 'CN=localhost'", rejected.Message);
        Assert.Equal(TlsHandshakeError.CertificateRejected, threw.TlsError());
        Assert.Contains("validator bug", threw.Message);
    }

    [Fact]
    public async Task ClientToAPlaintextServer_ClosesWithNotTls()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            await peer.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
            await ReadToEndOrReset(peer);
        });

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), ((IPEndPoint)listener.LocalEndPoint!).Port);

        Assert.Equal(CloseKind.HandshakeFailed, reason.Kind);
        Assert.Equal(TlsHandshakeError.NotTls, reason.TlsError());
        Assert.Contains("HTTP/1.1 400", reason.Message);
        await serve.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task ServerThatClosesDuringTheHandshake_ClientClosesWithTruncated()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            await peer.ReceiveAsync(new byte[1024]); // the ClientHello
            // Half a ServerHello record, then FIN.
            await peer.SendAsync(new byte[] { 0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00 });
            peer.Shutdown(SocketShutdown.Send);
            await ReadToEndOrReset(peer);
        });

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), ((IPEndPoint)listener.LocalEndPoint!).Port);

        Assert.Equal(TlsHandshakeError.Truncated, reason.TlsError());
        await serve.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task ServerThatNeverAnswers_ClientClosesWithHandshakeTimeout()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            await ReadToEndOrReset(peer); // takes the ClientHello, answers nothing
        });
        var options = TlsKit.ClientOptions();
        options.HandshakeTimeout = TimeSpan.FromMilliseconds(300);

        var reason = await TlsKit.ClientFailure(options, ((IPEndPoint)listener.LocalEndPoint!).Port);

        Assert.Equal(CloseKind.HandshakeTimeout, reason.Kind);
        Assert.Equal(TlsHandshakeError.Timeout, reason.TlsError());
        await serve.WaitAsync(Wait.Long);
    }

    [Fact]
    public async Task FailedHandshake_EndsTheSessionsStreams_TheHandshakeStreamCompletesEmpty()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes("hello?\n"));
        var session = await server.Sessions.First("session");

        Assert.Empty(await session.TlsHandshake().ToList().Timeout(Wait.Long));
        Assert.Empty(await session.Frames.ToList().Timeout(Wait.Long));
        Assert.Null(session.TlsInfo());
        await session.Closed.First("the failed session's close");
        Assert.Equal(0, server.Server.SessionCount); // the owner forgets a session before its Closed is delivered
    }

    /// <summary>Reads until the peer closes (FIN or RST); returns what arrived.</summary>
    private static async Task<byte[]> ReadToEndOrReset(Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Wait.Long);
                if (n == 0) break;
                received.AddRange(buffer.AsSpan(0, n).ToArray());
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
        }
        return [.. received];
    }
}
