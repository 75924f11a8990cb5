using System.Buffers;

namespace Asio2.Rx;

/// <summary>What a received RPC message is.</summary>
internal enum RpcMessageKind : byte
{
    Request,
    Response,
    Notification,
}

/// <summary>
/// One decoded RPC message. Header fields are decoded; arguments, error and result stay as raw bytes (slices of the
/// frame, which is immutable) until the binding or the pending call knows which types to read them as.
/// </summary>
internal readonly struct RpcMessage
{
    public RpcMessageKind Kind { get; init; }
    public ulong Id { get; init; }
    public string Method { get; init; }
    /// <summary>The method name as it was on the wire (asio2 echoes it byte for byte).</summary>
    public ReadOnlyMemory<byte> MethodBytes { get; init; }
    /// <summary>Request/notification: the arguments. Response: the result (empty when there is none).</summary>
    public ReadOnlyMemory<byte> Body { get; init; }
    /// <summary>Response: the error (MessagePack-RPC: the raw error object; empty when nil).</summary>
    public ReadOnlyMemory<byte> Error { get; init; }
    /// <summary>asio2: the error code of a response (0 = success).</summary>
    public int ErrorCode { get; init; }
    /// <summary>asio2: the sender wrote big-endian numbers (flag 00).</summary>
    public bool BigEndian { get; init; }

    public bool HasError => ErrorCode != 0 || !Error.IsEmpty;

    /// <summary>Request/notification: the caller's W3C trace context, when it sent one (MessagePack-RPC only).</summary>
    public RpcTraceContext? Trace { get; init; }

    /// <summary>Request/notification: this side's server span for it, when someone listens.</summary>
    public System.Diagnostics.Activity? Span { get; init; }
}

/// <summary>A W3C trace context on the RPC wire (the carrier the propagator reads and writes).</summary>
internal sealed class RpcTraceContext
{
    public string? TraceParent { get; set; }
    public string? TraceState { get; set; }

    public string? Get(string field) => field switch
    {
        "traceparent" => TraceParent,
        "tracestate" => TraceState,
        _ => null,
    };

    public void Set(string field, string value)
    {
        if (field == "traceparent") TraceParent = value;
        else if (field == "tracestate") TraceState = value;
    }
}

/// <summary>A received message that cannot be handled: the connection is closed with <see cref="CloseKind.ProtocolError"/>.</summary>
internal sealed class RpcProtocolException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Arguments that do not fit the bound function: answered with <see cref="RpcErrorKind.InvalidArguments"/>.</summary>
internal sealed class RpcArgumentException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One RPC wire: pure, synchronous encode and decode (no session, no Rx). Decoding never recurses deeper than the
/// configured nesting depth and never allocates more than the frame's size suggests.
/// </summary>
internal abstract class RpcWire
{
    /// <summary>Whether the wire can stream results (<see cref="RpcPeer.Stream{T}"/>) and cancel calls.</summary>
    public abstract bool SupportsStreams { get; }

    /// <summary>Throws <see cref="NotSupportedException"/> when values of <paramref name="type"/> cannot be sent on this wire.</summary>
    public abstract void CheckType(Type type);

    /// <summary>Decodes the header of a frame. Throws <see cref="RpcProtocolException"/> when it is not a message.</summary>
    public abstract RpcMessage Decode(ReadOnlyMemory<byte> frame);

    /// <summary>Decodes the arguments of a request into <paramref name="values"/> at the binding's wire parameter positions.
    /// Throws <see cref="RpcArgumentException"/> when they do not fit.</summary>
    public abstract void DecodeArguments(in RpcMessage message, RpcBinding binding, object?[] values);

    /// <summary>Decodes a successful response's result. Throws on bytes that are not a <paramref name="type"/>.</summary>
    public abstract object? DecodeResult(in RpcMessage message, Type type);

    /// <summary>The error a failed response carries.</summary>
    public abstract RpcException DecodeError(in RpcMessage message);

    /// <summary>Writes a request (<paramref name="id"/> 0 and <paramref name="notification"/>: a notification), with the
    /// caller's trace context where the wire has room for it.</summary>
    public abstract void WriteRequest(IBufferWriter<byte> output, ulong id, string method, ReadOnlySpan<object?> args, bool notification, RpcTraceContext? trace = null);

    /// <summary>Writes a success response; <paramref name="resultType"/> null for a function that returns nothing.</summary>
    public abstract void WriteResult(IBufferWriter<byte> output, in RpcMessage request, object? result, Type? resultType);

    /// <summary>Writes an error response.</summary>
    public abstract void WriteError(IBufferWriter<byte> output, in RpcMessage request, RpcErrorKind kind, string message, string? remoteType);
}
