namespace Asio2.Rx.Hosting;

/// <summary>
/// Settings of a hosted RPC server (<c>AddRpcServer</c>): the TCP server's (TLS, limits, drain, ...) plus the RPC
/// settings in <see cref="Rpc"/> (configuration keys <c>Rpc:DefaultTimeout</c>, <c>Rpc:Protocol</c>, ...).
/// </summary>
/// <remarks>The framing follows the wire unless set in code: MessagePack objects for MessagePack-RPC, asio2's
/// datagram framing for <see cref="RpcProtocol.Asio2"/>.</remarks>
public sealed class RpcServerOptions : TcpServerOptions
{
    private readonly Framing _default;

    /// <summary>Creates the settings with MessagePack-RPC's framing.</summary>
    public RpcServerOptions() => Framing = _default = Framing.MessagePackObject();

    /// <summary>The RPC settings (wire, timeouts, limits, trace context).</summary>
    public RpcOptions Rpc { get; } = new();

    internal RpcServerOptions WithWireFraming()
    {
        if (ReferenceEquals(Framing, _default) && Rpc.Protocol == RpcProtocol.Asio2) Framing = Framing.Datagram();
        return this;
    }
}

/// <summary>Settings of a hosted RPC client (<c>AddRpcClient</c>): the TCP client's plus the RPC settings in
/// <see cref="Rpc"/>; the framing follows the wire as for <see cref="RpcServerOptions"/>.</summary>
public sealed class RpcClientOptions : TcpClientOptions
{
    private readonly Framing _default;

    /// <summary>Creates the settings with MessagePack-RPC's framing.</summary>
    public RpcClientOptions() => Framing = _default = Framing.MessagePackObject();

    /// <summary>The RPC settings (wire, timeouts, limits, trace context).</summary>
    public RpcOptions Rpc { get; } = new();

    internal RpcClientOptions WithWireFraming()
    {
        if (ReferenceEquals(Framing, _default) && Rpc.Protocol == RpcProtocol.Asio2) Framing = Framing.Datagram();
        return this;
    }
}
