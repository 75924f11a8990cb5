using System.Buffers;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// asio2's RPC wire (shared/asio2/vectors/RPC.md): inside each datagram frame, an endianness flag (01 little, 00 big),
/// <c>'q'</c> or <c>'p'</c>, a u64 id, the method name (u64 length + bytes), then the arguments (requests) or an int32
/// error code and, on success of a non-void function, the result (responses). Id 0 is a notification and is never answered.
/// </summary>
/// <remarks>
/// A header that does not decode (flag other than 00/01, truncated, a name longer than the message, a type byte
/// other than <c>'q'</c>/<c>'p'</c>) closes the connection, as asio2 does. Arguments that do not fit are answered with
/// invalid_argument (5), also when bytes are left over; unlike asio2, the function is not run first in that case.
/// Errors asio2 has no code for (a handler exception, a result too large to send) go out as unspecified_error (11).
/// </remarks>
internal sealed class Asio2RpcWire(int maxDepth) : RpcWire
{
    public const byte Request = (byte)'q';
    public const byte Response = (byte)'p';
    private const int HeaderLength = 18;

    // asio2's rpc error codes (RPC.md, "Error codes").
    public const int Success = 0, OperationAborted = 4, NotFound = 3, InvalidArgument = 5, IllegalData = 6, TimedOut = 7, NotConnected = 10, Unspecified = 11;

    public override bool SupportsStreams => false;

    public override void CheckType(Type type) => Asio2TypeCodec.For(type);

    public override RpcMessage Decode(ReadOnlyMemory<byte> frame)
    {
        var span = frame.Span;
        if (span.Length < HeaderLength) throw new RpcProtocolException($"an asio2 RPC header needs {HeaderLength} bytes, got {span.Length}");
        bool bigEndian = span[0] switch
        {
            1 => false,
            0 => true,
            var flag => throw new RpcProtocolException($"unknown endianness flag {flag:x2}"),
        };
        byte type = span[1];
        if (type is not (Request or Response)) throw new RpcProtocolException($"unknown message type {type:x2}");
        var reader = new PortableReader(span[2..], bigEndian, maxDepth);
        ulong id = reader.ReadUInt64();
        ulong nameLength = reader.ReadUInt64();
        if (nameLength > (ulong)reader.Remaining) throw new RpcProtocolException($"a method name of {nameLength} bytes in a message of {span.Length}");
        int nameStart = HeaderLength;
        var nameBytes = frame.Slice(nameStart, (int)nameLength);
        int bodyStart = nameStart + (int)nameLength;
        string method = Encoding.UTF8.GetString(nameBytes.Span);
        if (type == Request)
        {
            return new RpcMessage
            {
                Kind = id == 0 ? RpcMessageKind.Notification : RpcMessageKind.Request,
                Id = id, Method = method, MethodBytes = nameBytes, Body = frame[bodyStart..], BigEndian = bigEndian,
            };
        }
        if (span.Length - bodyStart < 4) throw new RpcProtocolException("a response without its error code");
        var code = new PortableReader(span[bodyStart..], bigEndian, maxDepth).ReadUInt32();
        return new RpcMessage
        {
            Kind = RpcMessageKind.Response, Id = id, Method = method, MethodBytes = nameBytes,
            ErrorCode = (int)code, Body = frame[(bodyStart + 4)..], BigEndian = bigEndian,
        };
    }

    public override void DecodeArguments(in RpcMessage message, RpcBinding binding, object?[] values)
    {
        var reader = new PortableReader(message.Body.Span, message.BigEndian, maxDepth);
        var types = binding.WireTypes;
        for (int i = 0; i < types.Length; i++)
            values[binding.WirePositions[i]] = Asio2TypeCodec.For(types[i]).Read(ref reader);
        if (reader.Remaining != 0) throw new RpcArgumentException($"{reader.Remaining} byte(s) left after the arguments of '{binding.Name}'");
    }

    public override object? DecodeResult(in RpcMessage message, Type type)
    {
        var reader = new PortableReader(message.Body.Span, message.BigEndian, maxDepth);
        var value = Asio2TypeCodec.For(type).Read(ref reader);
        if (reader.Remaining != 0) throw new RpcArgumentException($"{reader.Remaining} byte(s) left after the result");
        return value;
    }

    public override RpcException DecodeError(in RpcMessage message) => message.ErrorCode switch
    {
        NotFound => new RpcException(RpcErrorKind.MethodNotFound, $"'{message.Method}' is not bound on the peer (asio2 error 3)"),
        InvalidArgument => new RpcException(RpcErrorKind.InvalidArguments, $"the peer refused the arguments of '{message.Method}' (asio2 error 5)"),
        TimedOut => new RpcException(RpcErrorKind.Timeout, $"'{message.Method}' timed out on the peer (asio2 error 7)"),
        OperationAborted or NotConnected => new RpcException(RpcErrorKind.ConnectionLost, $"'{message.Method}' aborted on the peer (asio2 error {message.ErrorCode})"),
        IllegalData => new RpcException(RpcErrorKind.ProtocolViolation, $"the peer found illegal data in '{message.Method}' (asio2 error 6)"),
        var code => new RpcException(RpcErrorKind.RemoteException, $"'{message.Method}' failed on the peer (asio2 error {code})"),
    };

    public override void WriteRequest(IBufferWriter<byte> output, ulong id, string method, ReadOnlySpan<object?> args, bool notification, RpcTraceContext? trace = null)
    {
        WriteHeader(output, Request, notification ? 0 : id, Encoding.UTF8.GetBytes(method));
        foreach (var arg in args)
        {
            if (arg is null) throw new NotSupportedException("the asio2 wire has no null: every argument needs a value");
            Asio2TypeCodec.For(arg.GetType()).Write(output, arg);
        }
    }

    public override void WriteResult(IBufferWriter<byte> output, in RpcMessage request, object? result, Type? resultType)
    {
        WriteHeader(output, Response, request.Id, request.MethodBytes.Span);
        output.WriteUInt32(Success);
        if (resultType is not null) Asio2TypeCodec.For(resultType).Write(output, result);
    }

    public override void WriteError(IBufferWriter<byte> output, in RpcMessage request, RpcErrorKind kind, string message, string? remoteType)
    {
        WriteHeader(output, Response, request.Id, request.MethodBytes.Span);
        output.WriteUInt32((uint)(kind switch
        {
            RpcErrorKind.MethodNotFound => NotFound,
            RpcErrorKind.InvalidArguments => InvalidArgument,
            RpcErrorKind.Timeout => TimedOut,
            RpcErrorKind.ConnectionLost => OperationAborted,
            RpcErrorKind.ProtocolViolation => IllegalData,
            _ => Unspecified,
        }));
    }

    private static void WriteHeader(IBufferWriter<byte> output, byte type, ulong id, ReadOnlySpan<byte> name)
    {
        output.WriteByte(1);
        output.WriteByte(type);
        output.WriteUInt64(id);
        output.WriteBytes(name);
    }
}
