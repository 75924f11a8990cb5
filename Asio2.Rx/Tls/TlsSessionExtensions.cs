using System.Reactive.Linq;

namespace Asio2.Rx;

/// <summary>TLS details of sessions: what the handshake negotiated, and why one failed.</summary>
/// <example>
/// <code>
/// server.TlsHandshakes().Subscribe(h => Console.WriteLine($"{h.Session.RemoteEndPoint}: {h.Protocol} {h.CipherSuite} {h.ApplicationProtocol}"));
/// server.Sessions.SelectMany(s => s.Closed)
///       .Where(r => r.TlsError() is not null)
///       .Subscribe(r => Console.WriteLine($"handshake failed: {r.TlsError()}: {r.Message}"));
/// </code>
/// </example>
public static class TlsSessionExtensions
{
    /// <summary>The negotiated TLS parameters of <paramref name="session"/>; null before its handshake finished, after
    /// it failed, or when the session is not TLS.</summary>
    public static TlsHandshakeInfo? TlsInfo(this Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return Tls(session)?.Info;
    }

    /// <summary>
    /// The session's handshake: one <see cref="TlsHandshakeInfo"/> when it succeeds, delivered on the session's
    /// scheduler before its first frame, then completion. Completes empty when the handshake fails (the reason is on
    /// <see cref="Session.Closed"/>) or the session is not TLS. Replayed to late subscribers; never errors.
    /// </summary>
    public static IObservable<TlsHandshakeInfo> TlsHandshake(this Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return Tls(session)?.Handshake ?? Observable.Empty<TlsHandshakeInfo>();
    }

    /// <summary>Successful handshakes of the server's sessions, hot (sessions accepted after subscribing). Each is
    /// delivered on its session's scheduler; failures are on each session's <see cref="Session.Closed"/>.</summary>
    public static IObservable<TlsHandshakeInfo> TlsHandshakes(this TcpServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.Sessions.SelectMany(static s => s.TlsHandshake());
    }

    /// <summary>Successful handshakes of the client's connections, hot (one per connection made after subscribing).</summary>
    public static IObservable<TlsHandshakeInfo> TlsHandshakes(this ReconnectingClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.Connections.SelectMany(static s => s.TlsHandshake());
    }

    /// <summary>Why a TLS handshake failed, when that is why the session closed; null otherwise.</summary>
    public static TlsHandshakeError? TlsError(this CloseReason reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return (reason.Exception as TlsHandshakeException)?.Error;
    }

    private static TlsTransport? Tls(Session session) => (session as StreamSession)?.TransportLayer as TlsTransport;
}
