using System.Buffers;
using MessagePack;
using MessagePack.Formatters;

namespace Asio2.Rx;

/// <summary>
/// MessagePack-RPC (github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md): request <c>[0, msgid, method, params]</c>,
/// response <c>[1, msgid, error, result]</c>, notification <c>[2, method, params]</c>.
/// </summary>
/// <remarks>
/// <para>Errors this side sends are <c>[kind, message, typeName]</c> (kind: <see cref="RpcErrorKind"/> as an integer,
/// typeName nil unless a handler threw). Errors received in any other shape (a string, a map, anything) become
/// <see cref="RpcErrorKind.RemoteException"/> with a description of the value.</para>
/// <para>Extensions, all sent as ordinary requests and notifications whose names start with <c>$/</c>, so a peer that
/// does not know them answers "method not found" or ignores them: <c>$/cancel [msgid]</c> (the caller gave up on a call),
/// <c>$/stream [method, window, params]</c> (a request for a streamed result), <c>$/next [msgid, item]</c> (one streamed
/// item), <c>$/ack [msgid, count]</c> (the caller consumed <c>count</c> more items). A peer only ever receives
/// <c>$/next</c> after it sent <c>$/stream</c>.</para>
/// <para>Trace context (opt-in, <see cref="RpcOptions.SendTraceContext"/>): a request may carry a fifth element and a
/// notification a fourth, a map <c>{"traceparent": "00-…", "tracestate": "…"}</c> (W3C Trace Context; other keys are
/// ignored, <c>tracestate</c> may be absent). This side always accepts it; it sends it only when told the peer does.</para>
/// <para>Before anything is read, the frame's nesting is checked without recursion against the depth limit, so the
/// recursive readers of the MessagePack library never see a hostile depth.</para>
/// </remarks>
internal sealed class MessagePackRpcWire(MessagePackSerializerOptions options, int maxDepth) : RpcWire
{
    public const string CancelMethod = "$/cancel";
    public const string StreamMethod = "$/stream";
    public const string NextMethod = "$/next";
    public const string AckMethod = "$/ack";

    private const int RequestType = 0, ResponseType = 1, NotificationType = 2;

    // With the standard resolver, common primitives are read and written directly (no formatter lookup per value).
    private readonly bool _standard = ReferenceEquals(options.Resolver, MessagePack.Resolvers.StandardResolver.Instance);

    public MessagePackSerializerOptions Options => options;

    public override bool SupportsStreams => true;

    public override void CheckType(Type type)
    {
        IMessagePackFormatter? formatter;
        try
        {
            formatter = (IMessagePackFormatter?)options.Resolver.GetFormatterDynamic(type);
        }
        catch (Exception ex)
        {
            throw new NotSupportedException($"{type} has no MessagePack formatter ({ex.Message})", ex);
        }
        if (formatter is null) throw new NotSupportedException($"{type} has no MessagePack formatter; mark it [MessagePackObject] or use a resolver that knows it");
    }

    public override RpcMessage Decode(ReadOnlyMemory<byte> frame)
    {
        try
        {
            CheckDepth(frame, maxDepth);
            var reader = new MessagePackReader(frame);
            int count = reader.ReadArrayHeader();
            int type = reader.ReadInt32();
            RpcMessage message;
            switch (type)
            {
                case RequestType when count is 4 or 5:
                {
                    uint id = reader.ReadUInt32();
                    var (method, bytes) = ReadMethod(ref reader, frame);
                    var body = ReadParams(ref reader, frame);
                    message = new RpcMessage { Kind = RpcMessageKind.Request, Id = id, Method = method, MethodBytes = bytes, Body = body, Trace = count == 5 ? ReadTrace(ref reader) : null };
                    break;
                }
                case ResponseType when count == 4:
                {
                    uint id = reader.ReadUInt32();
                    var error = reader.TryReadNil() ? default : Slice(ref reader, frame);
                    message = new RpcMessage { Kind = RpcMessageKind.Response, Id = id, Method = "", Error = error, Body = Slice(ref reader, frame) };
                    break;
                }
                case NotificationType when count is 3 or 4:
                {
                    var (method, bytes) = ReadMethod(ref reader, frame);
                    var body = ReadParams(ref reader, frame);
                    message = new RpcMessage { Kind = RpcMessageKind.Notification, Method = method, MethodBytes = bytes, Body = body, Trace = count == 4 ? ReadTrace(ref reader) : null };
                    break;
                }
                default:
                    throw new RpcProtocolException($"not a MessagePack-RPC message: type {type} in an array of {count}");
            }
            if (!reader.End) throw new RpcProtocolException("bytes after the MessagePack-RPC message");
            return message;
        }
        catch (Exception ex) when (ex is not RpcProtocolException)
        {
            throw new RpcProtocolException($"malformed MessagePack-RPC message: {ex.Message}", ex);
        }
    }

    public override void DecodeArguments(in RpcMessage message, RpcBinding binding, object?[] values)
    {
        var reader = new MessagePackReader(message.Body);
        int count = reader.ReadArrayHeader();
        var types = binding.WireTypes;
        if (count != types.Length)
            throw new RpcArgumentException($"'{binding.Name}' takes {types.Length} argument(s), got {count}");
        for (int i = 0; i < types.Length; i++)
        {
            try
            {
                values[binding.WirePositions[i]] = ReadValue(ref reader, types[i]);
            }
            catch (Exception ex)
            {
                throw new RpcArgumentException($"'{binding.Name}' argument {i + 1}: not a {types[i].Name} ({Innermost(ex).Message})", ex);
            }
        }
    }

    public override object? DecodeResult(in RpcMessage message, Type type)
    {
        var reader = new MessagePackReader(message.Body);
        return ReadValue(ref reader, type);
    }

    /// <summary>Decodes a value (a streamed item) of <paramref name="type"/>.</summary>
    public object? DecodeValue(ReadOnlyMemory<byte> bytes, Type type) => MessagePackSerializer.Deserialize(type, bytes, options);

    public override RpcException DecodeError(in RpcMessage message)
    {
        try
        {
            var reader = new MessagePackReader(message.Error);
            if (reader.NextMessagePackType == MessagePackType.String)
                return new RpcException(RpcErrorKind.RemoteException, reader.ReadString() ?? "");
            if (reader.NextMessagePackType == MessagePackType.Array)
            {
                var copy = reader;
                int n = copy.ReadArrayHeader();
                if (n is >= 2 and <= 3 && copy.NextMessagePackType == MessagePackType.Integer)
                {
                    int kind = copy.ReadInt32();
                    string text = copy.ReadString() ?? "";
                    string? type = n == 3 && !copy.TryReadNil() ? copy.ReadString() : null;
                    if (Enum.IsDefined((RpcErrorKind)kind)) return new RpcException((RpcErrorKind)kind, text, type);
                }
            }
            // Some other peer's error object: describe it.
            return new RpcException(RpcErrorKind.RemoteException, MessagePackSerializer.ConvertToJson(message.Error, options));
        }
        catch (Exception ex)
        {
            return new RpcException(RpcErrorKind.ProtocolViolation, $"undecodable error object: {ex.Message}", null, ex);
        }
    }

    public override void WriteRequest(IBufferWriter<byte> output, ulong id, string method, ReadOnlySpan<object?> args, bool notification, RpcTraceContext? trace = null)
    {
        var writer = new MessagePackWriter(output);
        int extra = trace?.TraceParent is null ? 0 : 1;
        if (notification)
        {
            writer.WriteArrayHeader(3 + extra);
            writer.Write(NotificationType);
        }
        else
        {
            writer.WriteArrayHeader(4 + extra);
            writer.Write(RequestType);
            writer.Write((uint)id);
        }
        writer.Write(method);
        WriteArgs(ref writer, args);
        if (extra != 0) WriteTrace(ref writer, trace!);
        writer.Flush();
    }

    /// <summary><c>[0, id, "$/stream", [method, window, params]]</c> (and the trace context, when given).</summary>
    public void WriteStreamRequest(IBufferWriter<byte> output, ulong id, string method, int window, ReadOnlySpan<object?> args, RpcTraceContext? trace = null)
    {
        var writer = new MessagePackWriter(output);
        bool traced = trace?.TraceParent is not null;
        writer.WriteArrayHeader(traced ? 5 : 4);
        writer.Write(RequestType);
        writer.Write((uint)id);
        writer.Write(StreamMethod);
        writer.WriteArrayHeader(3);
        writer.Write(method);
        writer.Write(window);
        WriteArgs(ref writer, args);
        if (traced) WriteTrace(ref writer, trace!);
        writer.Flush();
    }

    private static void WriteTrace(ref MessagePackWriter writer, RpcTraceContext trace)
    {
        writer.WriteMapHeader(trace.TraceState is null ? 1 : 2);
        writer.Write("traceparent");
        writer.Write(trace.TraceParent);
        if (trace.TraceState is { } state)
        {
            writer.Write("tracestate");
            writer.Write(state);
        }
    }

    /// <summary>Reads the trace-context map (nil reads as none); keys other than the two W3C ones are skipped.</summary>
    private static RpcTraceContext? ReadTrace(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return null;
        if (reader.NextMessagePackType != MessagePackType.Map) throw new RpcProtocolException("the trace context is not a map");
        int n = reader.ReadMapHeader();
        var trace = new RpcTraceContext();
        for (int i = 0; i < n; i++)
        {
            string? key = reader.NextMessagePackType == MessagePackType.String ? reader.ReadString() : null;
            if (key is null) reader.Skip();
            if (key is "traceparent" or "tracestate" && reader.NextMessagePackType == MessagePackType.String) trace.Set(key, reader.ReadString()!);
            else reader.Skip();
        }
        return trace.TraceParent is null ? null : trace;
    }

    /// <summary>Reads the params of a <c>$/stream</c> request: the method, the window, and a message whose body is the inner params.</summary>
    public RpcMessage DecodeStreamRequest(in RpcMessage message, out int window)
    {
        var reader = new MessagePackReader(message.Body);
        if (reader.ReadArrayHeader() != 3) throw new RpcArgumentException("$/stream takes [method, window, params]");
        string method = reader.ReadString() ?? throw new RpcArgumentException("$/stream: the method is nil");
        window = reader.ReadInt32();
        if (window < 1) throw new RpcArgumentException("$/stream: the window must be at least 1");
        if (reader.NextMessagePackType != MessagePackType.Array) throw new RpcArgumentException("$/stream: params must be an array");
        var body = Slice(ref reader, message.Body);
        return message with { Method = method, Body = body };
    }

    /// <summary>A control notification: <c>[2, name, [id]]</c> or <c>[2, name, [id, count]]</c>.</summary>
    public void WriteControl(IBufferWriter<byte> output, string name, ulong id, int? count)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(3);
        writer.Write(NotificationType);
        writer.Write(name);
        writer.WriteArrayHeader(count is null ? 1 : 2);
        writer.Write((uint)id);
        if (count is { } c) writer.Write(c);
        writer.Flush();
    }

    /// <summary>Reads <c>[id]</c>, <c>[id, count]</c> or <c>[id, item]</c>: the id, the count (0 when absent) and the raw second element.</summary>
    public static ulong ReadControl(ReadOnlyMemory<byte> body, out int count, out ReadOnlyMemory<byte> second)
    {
        try
        {
            var reader = new MessagePackReader(body);
            int n = reader.ReadArrayHeader();
            if (n is < 1 or > 2) throw new RpcProtocolException("a control notification takes [id] or [id, value]");
            ulong id = reader.ReadUInt32();
            count = 0;
            second = default;
            if (n == 2)
            {
                var copy = reader;
                second = Slice(ref reader, body);
                if (copy.NextMessagePackType == MessagePackType.Integer) count = copy.ReadInt32();
            }
            return id;
        }
        catch (Exception ex) when (ex is not RpcProtocolException)
        {
            throw new RpcProtocolException($"malformed control notification: {ex.Message}", ex);
        }
    }

    /// <summary><c>[2, "$/next", [id, item]]</c>.</summary>
    public void WriteStreamItem(IBufferWriter<byte> output, ulong id, object? item, Type type)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(3);
        writer.Write(NotificationType);
        writer.Write(NextMethod);
        writer.WriteArrayHeader(2);
        writer.Write((uint)id);
        MessagePackSerializer.Serialize(type, ref writer, item, options);
        writer.Flush();
    }

    public override void WriteResult(IBufferWriter<byte> output, in RpcMessage request, object? result, Type? resultType)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(4);
        writer.Write(ResponseType);
        writer.Write((uint)request.Id);
        writer.WriteNil();
        if (resultType is null) writer.WriteNil();
        else WriteValue(ref writer, result, resultType);
        writer.Flush();
    }

    public override void WriteError(IBufferWriter<byte> output, in RpcMessage request, RpcErrorKind kind, string message, string? remoteType)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(4);
        writer.Write(ResponseType);
        writer.Write((uint)request.Id);
        writer.WriteArrayHeader(3);
        writer.Write((int)kind);
        writer.Write(message);
        writer.Write(remoteType);
        writer.WriteNil();
        writer.Flush();
    }

    private void WriteArgs(ref MessagePackWriter writer, ReadOnlySpan<object?> args)
    {
        writer.WriteArrayHeader(args.Length);
        foreach (var arg in args) WriteValue(ref writer, arg, arg?.GetType());
    }

    private void WriteValue(ref MessagePackWriter writer, object? value, Type? type)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }
        if (_standard)
        {
            switch (value)
            {
                case int i when type == typeof(int): writer.Write(i); return;
                case long l when type == typeof(long): writer.Write(l); return;
                case double d when type == typeof(double): writer.Write(d); return;
                case bool b when type == typeof(bool): writer.Write(b); return;
                case string s when type == typeof(string): writer.Write(s); return;
            }
        }
        MessagePackSerializer.Serialize(type!, ref writer, value, options);
    }

    private object? ReadValue(ref MessagePackReader reader, Type type)
    {
        if (_standard)
        {
            if (type == typeof(int)) return reader.ReadInt32();
            if (type == typeof(long)) return reader.ReadInt64();
            if (type == typeof(double)) return reader.ReadDouble();
            if (type == typeof(bool)) return reader.ReadBoolean();
            if (type == typeof(string)) return reader.ReadString();
        }
        return MessagePackSerializer.Deserialize(type, ref reader, options);
    }

    private static (string, ReadOnlyMemory<byte>) ReadMethod(ref MessagePackReader reader, ReadOnlyMemory<byte> frame)
    {
        if (reader.NextMessagePackType != MessagePackType.String) throw new RpcProtocolException("the method name is not a string");
        long start = reader.Consumed;
        string method = reader.ReadString()!;
        return (method, frame[(int)start..(int)reader.Consumed]);
    }

    private static ReadOnlyMemory<byte> ReadParams(ref MessagePackReader reader, ReadOnlyMemory<byte> frame)
    {
        if (reader.NextMessagePackType != MessagePackType.Array) throw new RpcProtocolException("params is not an array");
        return Slice(ref reader, frame);
    }

    /// <summary>The next value's bytes, as a slice of <paramref name="frame"/> (the reader reads from the frame's start).</summary>
    private static ReadOnlyMemory<byte> Slice(ref MessagePackReader reader, ReadOnlyMemory<byte> frame)
    {
        long start = reader.Consumed;
        reader.Skip();
        return frame[(int)start..(int)reader.Consumed];
    }

    /// <summary>Walks the value's headers with an explicit stack and refuses nesting deeper than <paramref name="maxDepth"/>.</summary>
    internal static void CheckDepth(ReadOnlyMemory<byte> frame, int maxDepth)
    {
        var reader = new MessagePackReader(frame);
        Span<long> remaining = maxDepth <= 128 ? stackalloc long[maxDepth + 1] : new long[maxDepth + 1];
        int depth = 0;
        remaining[0] = 1;
        while (depth >= 0)
        {
            if (remaining[depth] == 0)
            {
                depth--;
                continue;
            }
            remaining[depth]--;
            long children;
            switch (reader.NextMessagePackType)
            {
                case MessagePackType.Array: children = reader.ReadArrayHeader(); break;
                case MessagePackType.Map: children = 2L * reader.ReadMapHeader(); break;
                default: reader.Skip(); continue;
            }
            if (children == 0) continue;
            if (depth + 1 > maxDepth) throw new RpcProtocolException($"nesting deeper than {maxDepth}");
            remaining[++depth] = children;
        }
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is { } inner) ex = inner;
        return ex;
    }
}
