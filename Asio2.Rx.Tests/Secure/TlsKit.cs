using System.Net;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Asio2.Rx.Tests.Secure;

/// <summary>A TLS line-echo server with every session and close reason recorded, and matching clients.</summary>
internal sealed class TlsEchoServer : IAsyncDisposable
{
    private readonly ReplaySubject<Session> _sessions = new();
    private readonly ReplaySubject<CloseReason> _closes = new();

    public TlsEchoServer(TlsServerOptions tls, Action<TcpServerOptions>? configure = null, string host = "127.0.0.1")
    {
        var options = new TcpServerOptions { Framing = Framing.Delimiter('\n'), Tls = tls };
        configure?.Invoke(options);
        Server = new TcpServer(options);
        Server.Sessions.Subscribe(_sessions);
        Server.Sessions.Subscribe(s =>
        {
            s.Closed.Subscribe(_closes.OnNext);
            s.Frames.Subscribe(f => f.Session.Send(f.Text + "\n"));
        });
        EndPoint = Server.Start(host, 0);
    }

    public TcpServer Server { get; }
    public IPEndPoint EndPoint { get; }
    public int Port => EndPoint.Port;

    /// <summary>Every session, replayed.</summary>
    public IObservable<Session> Sessions => _sessions;

    /// <summary>Close reasons of every session, replayed, in the order they closed.</summary>
    public IObservable<CloseReason> Closes => _closes;

    /// <summary>The first session's handshake info.</summary>
    public Task<TlsHandshakeInfo> FirstHandshake() => Sessions.SelectMany(s => s.TlsHandshake()).First("the server's handshake");

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

internal static class TlsKit
{
    public static TestPki Pki => TestPki.Shared;

    public static TlsServerOptions ServerOptions() => new() { Certificate = Pki.ServerTls };

    /// <summary>A client that trusts the test root and expects "localhost".</summary>
    public static TlsClientOptions ClientOptions() => new() { TrustedCaPem = Pki.RootPem, TargetHost = "localhost" };

    /// <summary>A line-framed client that does not reconnect.</summary>
    public static TcpClient Client(TlsClientOptions tls) =>
        new(new TcpClientOptions { Framing = Framing.Delimiter('\n'), Tls = tls, Reconnect = { Enabled = false } });

    /// <summary>Connects and returns the first echo of <paramref name="line"/>.</summary>
    public static async Task<(Session Session, string Echo)> EchoOnce(TcpClient client, int port, string line, string host = "127.0.0.1")
    {
        var reply = client.Frames.Select(f => f.Text).First("the echo");
        var session = await client.Connect(host, port).First("the connection");
        _ = client.Send(line + "\n");
        try
        {
            return (session, await reply);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; client session: {session.CloseReason?.ToString() ?? "open"}, handshake: {session.TlsInfo()?.ToString() ?? "none"}", e);
        }
    }

    /// <summary>The close reason of a session that is expected to fail its handshake.</summary>
    public static async Task<CloseReason> ClientFailure(TlsClientOptions tls, int port, string host = "127.0.0.1")
    {
        await using var client = Client(tls);
        var session = await client.Connect(host, port).First("the connection");
        return await session.Closed.First("the client's close");
    }
}
