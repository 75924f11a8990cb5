using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Security.Authentication;
using System.Security.Cryptography;

namespace Asio2.Rx.Tests.Secure;

public class TlsEchoTests
{
    private static TestPki Pki => TlsKit.Pki;

    [Fact]
    public async Task Echo_OverTls_WithAPrivateCa_WorksAndNamesTheTransportTls()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        await using var client = TlsKit.Client(TlsKit.ClientOptions());

        var (session, echo) = await TlsKit.EchoOnce(client, server.Port, "hello tls");

        Assert.Equal("hello tls", echo);
        Assert.Equal("tls", session.Transport);
        Assert.Equal("tls", (await server.Sessions.First("server session")).Transport);
    }

    [Fact]
    public async Task HandshakeInfo_ShowsProtocolCipherPeerCertificateAndHostName_OnBothSides()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        await using var client = TlsKit.Client(TlsKit.ClientOptions());
        var clientHandshake = client.TlsHandshakes().First("the client's handshake");

        var (session, _) = await TlsKit.EchoOnce(client, server.Port, "x");
        var serverInfo = await server.FirstHandshake();
        var clientInfo = await clientHandshake;

        Assert.Same(clientInfo, session.TlsInfo());
        Assert.Equal(SslProtocols.Tls13, clientInfo.Protocol);
        Assert.Equal(clientInfo.Protocol, serverInfo.Protocol);
        Assert.Equal(clientInfo.CipherSuite, serverInfo.CipherSuite);
        Assert.False(clientInfo.IsServer);
        Assert.True(serverInfo.IsServer);
        Assert.Equal("CN=localhost", clientInfo.PeerCertificate!.Subject);
        Assert.Null(serverInfo.PeerCertificate); // no client certificate asked for
        Assert.Equal("localhost", clientInfo.HostName);
        Assert.Equal("localhost", serverInfo.HostName); // the SNI the client sent
        Assert.Null(clientInfo.ApplicationProtocol);
    }

    [Fact]
    public async Task HandshakeInfo_IsDeliveredBeforeTheFirstFrame_OnTheSessionScheduler()
    {
        var order = new List<string>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Tls = TlsKit.ServerOptions() });
        tcp.Sessions.Subscribe(s =>
        {
            // Subscribed in the Sessions notification, before the handshake ran.
            s.TlsHandshake().Subscribe(_ => order.Add("handshake"));
            s.Frames.Subscribe(f => { order.Add("frame " + f.Text); done.TrySetResult(); });
        });
        var endPoint = tcp.Start("127.0.0.1", 0);
        await using var client = TlsKit.Client(TlsKit.ClientOptions());
        await client.Connect("127.0.0.1", endPoint.Port).First("connection");
        _ = client.Send("first\n");
        await done.Task.WaitAsync(Wait.Long);
        Assert.Equal(["handshake", "frame first"], order);
    }

    [Fact]
    public async Task SendsQueuedBeforeTheHandshakeFinished_AreWrittenAfterIt()
    {
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Tls = TlsKit.ServerOptions() });
        // Sent in the Sessions notification: the handshake has not even started.
        tcp.Sessions.Subscribe(s => s.Send("welcome\n"));
        var endPoint = tcp.Start("127.0.0.1", 0);
        await using var client = TlsKit.Client(TlsKit.ClientOptions());
        var first = client.Frames.Select(f => f.Text).First("the welcome");
        await client.Connect("127.0.0.1", endPoint.Port).First("connection");
        Assert.Equal("welcome", await first);
    }

    [Fact]
    public async Task Sni_SelectsTheCertificateByHostName_ExactThenWildcardThenDefault()
    {
        var api = Pki.Issue("api.test");
        var wild = Pki.Issue("*.wild.test");
        var tls = TlsKit.ServerOptions();
        tls.SniCertificates["api.test"] = TlsCertificate.FromPem(api.CertificatePem + Pki.Intermediate.CertificatePem, api.KeyPem);
        tls.SniCertificates["*.wild.test"] = TlsCertificate.FromPem(wild.CertificatePem + Pki.Intermediate.CertificatePem, wild.KeyPem);
        await using var server = new TlsEchoServer(tls);

        async Task<string> SubjectFor(string host)
        {
            var options = TlsKit.ClientOptions();
            options.TargetHost = host;
            await using var client = TlsKit.Client(options);
            var (session, _) = await TlsKit.EchoOnce(client, server.Port, "sni");
            return session.TlsInfo()!.PeerCertificate!.Subject;
        }

        Assert.Equal("CN=api.test", await SubjectFor("api.test"));
        Assert.Equal("CN=api.test", await SubjectFor("API.TEST"));
        Assert.Equal("CN=*.wild.test", await SubjectFor("a.wild.test"));
        Assert.Equal("CN=localhost", await SubjectFor("localhost"));
    }

    [Fact]
    public async Task Alpn_NegotiatesAProtocolBothSidesOffer_AndBothSidesSeeIt()
    {
        var tls = TlsKit.ServerOptions();
        tls.ApplicationProtocols = ["proto/2", "proto/1"];
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        options.ApplicationProtocols = ["proto/1", "proto/0"];
        await using var client = TlsKit.Client(options);

        var (session, _) = await TlsKit.EchoOnce(client, server.Port, "alpn");

        Assert.Equal("proto/1", session.TlsInfo()!.ApplicationProtocol);
        Assert.Equal("proto/1", (await server.FirstHandshake()).ApplicationProtocol);
    }

    [Fact]
    public async Task MutualTls_Required_AcceptsAVerifiedClientCertificate_AndTheServerSeesIt()
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Required;
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        options.ClientCertificate = Pki.ClientTls;
        await using var client = TlsKit.Client(options);

        var (_, echo) = await TlsKit.EchoOnce(client, server.Port, "mutual");

        Assert.Equal("mutual", echo);
        Assert.Equal("CN=test-client", (await server.FirstHandshake()).PeerCertificate!.Subject);
    }

    [Fact]
    public async Task MutualTls_RepeatedConnections_AreEachVerifiedInFull()
    {
        // Regression: a resumed TLS session carries no client intermediates, so the second connection of the same
        // client identity failed verification until resumption was turned off for servers that ask for certificates.
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Required;
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        for (int i = 0; i < 3; i++)
        {
            var options = TlsKit.ClientOptions();
            options.ClientCertificate = Pki.ClientTls;
            await using var client = TlsKit.Client(options);
            Assert.Equal($"again {i}", (await TlsKit.EchoOnce(client, server.Port, $"again {i}")).Echo);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MutualTls_Optional_AcceptsClientsWithAndWithoutACertificate(bool withCertificate)
    {
        var tls = TlsKit.ServerOptions();
        tls.ClientCertificateMode = TlsClientCertificateMode.Optional;
        tls.TrustedCaPem = Pki.RootPem;
        await using var server = new TlsEchoServer(tls);
        var options = TlsKit.ClientOptions();
        if (withCertificate) options.ClientCertificate = Pki.ClientTls;
        await using var client = TlsKit.Client(options);

        var (_, echo) = await TlsKit.EchoOnce(client, server.Port, "optional");

        Assert.Equal("optional", echo);
        Assert.Equal(withCertificate, (await server.FirstHandshake()).PeerCertificate is not null);
    }

    [Fact]
    public async Task Tls12Only_Server_NegotiatesTls12()
    {
        var tls = TlsKit.ServerOptions();
        tls.EnabledProtocols = SslProtocols.Tls12;
        await using var server = new TlsEchoServer(tls);
        await using var client = TlsKit.Client(TlsKit.ClientOptions());

        var (session, _) = await TlsKit.EchoOnce(client, server.Port, "v1.2");

        Assert.Equal(SslProtocols.Tls12, session.TlsInfo()!.Protocol);
    }

    [Fact]
    public void DefaultProtocols_AreTls12AndTls13Only()
    {
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, new TlsServerOptions().EnabledProtocols);
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, new TlsClientOptions().EnabledProtocols);
    }

    [Fact]
    public async Task ServerWithoutItsIntermediate_IsUntrusted_ByAClientTrustingOnlyTheRoot()
    {
        // The counterpart of every other test here, where the intermediate is sent and the path verifies.
        var tls = new TlsServerOptions { Certificate = TlsCertificate.FromPem(Pki.Server.CertificatePem, Pki.Server.KeyPem) };
        await using var server = new TlsEchoServer(tls);

        var reason = await TlsKit.ClientFailure(TlsKit.ClientOptions(), server.Port);

        Assert.Equal(TlsHandshakeError.UntrustedCertificate, reason.TlsError());
    }

    [IPv6Fact]
    public async Task IPv6_WithoutTargetHost_ChecksTheCertificateAgainstTheAddress()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions(), host: "::1");
        var options = TlsKit.ClientOptions();
        options.TargetHost = null; // the connect host, "::1", is in the certificate's IP entries
        await using var client = TlsKit.Client(options);

        var (session, echo) = await TlsKit.EchoOnce(client, server.Port, "v6", host: "::1");

        Assert.Equal("v6", echo);
        Assert.Equal("::1", session.TlsInfo()!.HostName);
        Assert.Null((await server.FirstHandshake()).HostName); // no SNI for an IP address (RFC 6066 §3)
    }

    [Fact]
    public async Task LargeFrames_SpanManyTlsRecords_ArriveIntact()
    {
        var tls = TlsKit.ServerOptions();
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram(4 << 20), Tls = tls });
        tcp.Sessions.Subscribe(s => s.Frames.Subscribe(f => f.Session.Send(f.Data)));
        var endPoint = tcp.Start("127.0.0.1", 0);
        await using var client = new TcpClient(new TcpClientOptions
        {
            Framing = Framing.Datagram(4 << 20),
            Tls = TlsKit.ClientOptions(),
            Reconnect = { Enabled = false },
        });
        var payload = RandomNumberGenerator.GetBytes(1 << 20);
        var reply = client.Frames.First("the echo");
        await client.Connect("127.0.0.1", endPoint.Port).First("connection");
        await client.Send(payload);
        Assert.Equal(payload, (await reply).Data.ToArray());
    }

    [Fact]
    public async Task ServerClose_SendsCloseNotifyThenFin_ClientSeesRemoteClose()
    {
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n'), Tls = TlsKit.ServerOptions() });
        tcp.Sessions.Subscribe(s => s.Frames.Subscribe(f =>
        {
            f.Session.Send("bye\n");
            f.Session.Close();
        }));
        var endPoint = tcp.Start("127.0.0.1", 0);
        await using var client = TlsKit.Client(TlsKit.ClientOptions());
        var (session, echo) = await TlsKit.EchoOnce(client, endPoint.Port, "close please");
        Assert.Equal("bye", echo);
        Assert.Equal(CloseKind.RemoteClose, (await session.Closed.First("client close")).Kind);
    }

    [Fact]
    public async Task DangerousAcceptAnyServerCertificate_AcceptsAnUntrustedWrongNameCertificate()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        await using var client = TlsKit.Client(new TlsClientOptions { TargetHost = "not-the-name.example", DangerousAcceptAnyServerCertificate = true });

        var (_, echo) = await TlsKit.EchoOnce(client, server.Port, "anything goes");

        Assert.Equal("anything goes", echo);
    }

    [Fact]
    public async Task RemoteCertificateValidation_SeesTheVerdict_AndCanOverrideIt()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());
        TlsCertificateCheck? seen = null;
        var options = TlsKit.ClientOptions();
        options.TargetHost = "pinned.example";
        string thumbprint = Pki.Server.Certificate.Thumbprint;
        options.RemoteCertificateValidation = check =>
        {
            seen = check;
            // Pinning: accept this exact certificate whatever its name.
            return check.Certificate?.Thumbprint == thumbprint;
        };
        await using var client = TlsKit.Client(options);

        var (_, echo) = await TlsKit.EchoOnce(client, server.Port, "pinned");

        Assert.Equal("pinned", echo);
        Assert.NotNull(seen);
        Assert.Equal(SslPolicyErrors.RemoteCertificateNameMismatch, seen.PolicyErrors);
        Assert.Equal(TlsHandshakeError.NameMismatch, seen.Error);
        Assert.Equal("pinned.example", seen.HostName);
        Assert.False(seen.IsServer);
    }

    [Fact]
    public async Task SystemTrust_IsTheDefault_AndDoesNotTrustAPrivateCa()
    {
        await using var server = new TlsEchoServer(TlsKit.ServerOptions());

        var reason = await TlsKit.ClientFailure(new TlsClientOptions { TargetHost = "localhost" }, server.Port);

        Assert.Equal(TlsHandshakeError.UntrustedCertificate, reason.TlsError());
        Assert.Contains("system's trusted roots", reason.Message);
    }

    [Fact]
    public async Task ClientStreams_OfAPlainTcpSession_HaveNoTlsInfo()
    {
        await using var tcp = new TcpServer();
        var first = tcp.Sessions.First("session");
        var endPoint = tcp.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(endPoint);
        var session = await first;
        Assert.Null(session.TlsInfo());
        Assert.Empty(await session.TlsHandshake().ToList());
        Assert.Equal("tcp", session.Transport);
        Assert.Null(new CloseReason(CloseKind.Reset).TlsError());
    }

    [Fact]
    public void ServerOptions_WithoutAnyCertificate_AreRefusedByTheServerConstructor()
    {
        var ex = Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { Tls = new TlsServerOptions() }));
        Assert.Contains("Certificate", ex.Message);
        Assert.Throws<ArgumentException>(() => new TcpClient(new TcpClientOptions { Tls = new TlsClientOptions { TrustedCaPem = "no pem here" } }));
        Assert.Throws<ArgumentException>(() => new TcpClient(new TcpClientOptions { Tls = new TlsClientOptions { ApplicationProtocols = [""] } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsClientOptions { HandshakeTimeout = TimeSpan.Zero });
#pragma warning disable CS0618 // obsolete on purpose
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsClientOptions { EnabledProtocols = SslProtocols.Ssl3 });
#pragma warning restore CS0618
    }
}
