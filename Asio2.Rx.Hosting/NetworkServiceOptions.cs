namespace Asio2.Rx.Hosting;

/// <summary>
/// A hosted server's or client's settings: where it listens (server) or connects (client), and the transport's own
/// options (<see cref="TcpServerOptions"/>, <see cref="UdpClientOptions"/>, ...).
/// </summary>
/// <remarks>
/// Bound from a flat configuration section: <c>Host</c> and <c>Port</c> are read here, every other key is a property
/// of <see cref="Settings"/> (<c>MaxSessions</c>, <c>DrainTimeout</c>, <c>KeepAlive:Idle</c>, ...). A key that names
/// no property, or a value a property refuses, fails the host's start with the key's full path in the message.
/// Settings that configuration cannot express (a <see cref="Framing"/>, TLS certificates) are set in code with
/// <see cref="NetworkServiceBuilder{TService, TOptions}.Configure(Action{NetworkServiceOptions{TOptions}})"/>.
/// </remarks>
/// <typeparam name="TOptions">The transport's options type.</typeparam>
public sealed class NetworkServiceOptions<TOptions> where TOptions : class, new()
{
    private string _host = "localhost";
    private int _port;

    /// <summary>
    /// A server's listen address ("*" for every interface, an address, or a host name); a client's target host.
    /// Defaults to "localhost": a service is reachable from other machines only when configuration says so.
    /// </summary>
    public string Host
    {
        get => _host;
        set => _host = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>A server's listen port (0 picks a free port), a client's target port. Defaults to 0.</summary>
    public int Port
    {
        get => _port;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 65535);
            _port = value;
        }
    }

    /// <summary>The transport's options. Read once, when the server or client is created.</summary>
    public TOptions Settings { get; } = new();
}
