namespace Asio2.Rx;

/// <summary>Why an RPC call failed. Carried by <see cref="RpcException.Kind"/>.</summary>
public enum RpcErrorKind
{
    /// <summary>The peer has no function bound under the called name.</summary>
    MethodNotFound,
    /// <summary>The arguments did not fit the bound function: wrong count, or a value that does not convert to its parameter type.</summary>
    InvalidArguments,
    /// <summary>The bound function threw; <see cref="RpcException.RemoteType"/> names the exception type when the peer says.</summary>
    RemoteException,
    /// <summary>No response arrived within the call timeout (<see cref="RpcOptions.DefaultTimeout"/>).</summary>
    Timeout,
    /// <summary>The connection ended (or was never there) before the response arrived.</summary>
    ConnectionLost,
    /// <summary>The request or the response is larger than the framing (or transport) allows, or a streamed result
    /// outgrew its buffer.</summary>
    PayloadTooLarge,
    /// <summary>The peer sent a message the protocol does not allow (the response could not be decoded as the expected type, a malformed message).</summary>
    ProtocolViolation,
}

/// <summary>
/// The one exception every failed RPC call ends with: a <see cref="Kind"/>, a message, and for remote exceptions the
/// remote type name.
/// </summary>
/// <remarks>Stack traces of remote exceptions are not sent unless the serving side sets
/// <see cref="RpcOptions.IncludeExceptionDetails"/>.</remarks>
public sealed class RpcException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RpcException(RpcErrorKind kind, string message, string? remoteType = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        RemoteType = remoteType;
    }

    /// <summary>What went wrong.</summary>
    public RpcErrorKind Kind { get; }

    /// <summary>For <see cref="RpcErrorKind.RemoteException"/>: the remote exception's type name, when the peer sent one.</summary>
    public string? RemoteType { get; }

    /// <inheritdoc/>
    public override string ToString() => $"RpcException({Kind}): {Message}";
}
