using MessagePack;

namespace Asio2.Rx;

/// <summary>The wire an RPC endpoint speaks.</summary>
public enum RpcProtocol
{
    /// <summary>MessagePack-RPC (github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md): what peers in other languages
    /// speak. On stream transports use <see cref="Framing.MessagePackObject(int)"/> (plain MessagePack-RPC) or
    /// <see cref="Framing.Datagram(int)"/>.</summary>
    MessagePackRpc,
    /// <summary>asio2's own RPC wire (cereal portable binary in asio2's datagram framing): talks to C++ asio2
    /// <c>rpc_server</c>/<c>rpc_client</c>. On stream transports use <see cref="Framing.Datagram(int)"/>.</summary>
    Asio2,
}

/// <summary>Settings of an RPC endpoint (<see cref="RpcServer"/>, <see cref="RpcClient"/>, <see cref="RpcBindings"/>).
/// Values are read once when the endpoint is created.</summary>
public sealed class RpcOptions
{
    private TimeSpan? _defaultTimeout = TimeSpan.FromSeconds(10);
    private int _maxConcurrentCalls = 64;
    private int _maxNestingDepth = 64;
    private int _streamWindow = 64;
    private int _maxStreamBufferBytes = 1024 * 1024;
    private MessagePackSerializerOptions _serializer = DefaultSerializer;

    /// <summary>The serializer options MessagePack-RPC uses unless told otherwise: the standard resolver (attributed
    /// <c>[MessagePackObject]</c> types, primitives, collections) with <see cref="MessagePackSecurity.UntrustedData"/>,
    /// because every byte comes from the network.</summary>
    public static MessagePackSerializerOptions DefaultSerializer { get; } =
        MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>The wire. Defaults to <see cref="RpcProtocol.MessagePackRpc"/>.</summary>
    public RpcProtocol Protocol { get; set; } = RpcProtocol.MessagePackRpc;

    /// <summary>How long a call waits for its response before failing with <see cref="RpcErrorKind.Timeout"/>, timed on the
    /// session's scheduler; null for no default (apply <c>Timeout</c> per call). Defaults to 10 s: long enough for a large
    /// payload on a busy link, short enough that a lost peer does not hold callers for minutes.</summary>
    public TimeSpan? DefaultTimeout
    {
        get => _defaultTimeout;
        set
        {
            if (value is { } v) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            _defaultTimeout = value;
        }
    }

    /// <summary>Handler calls (asynchronous ones and streams) one session runs at once. Past it, requests are parked until
    /// a call finishes; with as many parked as running the session stops reading (read credit), so a flood of slow calls
    /// back-pressures the caller instead of piling up. Defaults to 64.</summary>
    /// <remarks>While reading is held, responses to this side's own calls wait too: handlers that await calls back to the
    /// same peer, more than twice this many at once, wait for their call timeouts.</remarks>
    public int MaxConcurrentCalls
    {
        get => _maxConcurrentCalls;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxConcurrentCalls = value; }
    }

    /// <summary>Deepest nesting of arrays and maps (MessagePack-RPC) or of containers and user types (asio2) a received
    /// message may have; deeper messages are refused without recursing. Defaults to 64.</summary>
    public int MaxNestingDepth
    {
        get => _maxNestingDepth;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 2); _maxNestingDepth = value; }
    }

    /// <summary>Whether error responses carry the remote exception's stack trace. Defaults to false: stack traces tell
    /// a stranger about your code.</summary>
    public bool IncludeExceptionDetails { get; set; }

    /// <summary>Streamed results (<see cref="RpcPeer.Stream{T}"/>): items the producer may send before the caller
    /// acknowledges. The caller acknowledges every half window. Defaults to 64.</summary>
    public int StreamWindow
    {
        get => _streamWindow;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 2); _streamWindow = value; }
    }

    /// <summary>Streamed results: encoded bytes the serving side buffers for one stream while the caller's window is closed.
    /// A producer that outruns it ends its stream with <see cref="RpcErrorKind.PayloadTooLarge"/> (an <c>IObservable</c> cannot
    /// be paused, so the bound is what keeps a fast producer from growing memory). Defaults to 1 MiB.</summary>
    public int MaxStreamBufferBytes
    {
        get => _maxStreamBufferBytes;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxStreamBufferBytes = value; }
    }

    /// <summary>
    /// MessagePack-RPC: send the caller's W3C trace context (<c>traceparent</c>, <c>tracestate</c>) with every request
    /// and notification, as one more array element after the params (a map; see the wire's documentation), so the
    /// peer's server span joins the caller's trace. Off by default: the spec's messages have exactly 4 (3) elements,
    /// and an independent peer may refuse a longer one. Turn it on when the peer is Asio2.Rx (which always accepts the
    /// element, whatever this option says on its side) or reads it. asio2's wire has no room for it: ignored there.
    /// </summary>
    public bool SendTraceContext { get; set; }

    /// <summary>MessagePack-RPC: the serializer options for arguments and results. Defaults to <see cref="DefaultSerializer"/>.
    /// Keep <see cref="MessagePackSecurity.UntrustedData"/> when replacing it.</summary>
    public MessagePackSerializerOptions SerializerOptions
    {
        get => _serializer;
        set => _serializer = value ?? throw new ArgumentNullException(nameof(value));
    }

    internal RpcSettings Resolve() => new(
        Protocol,
        Protocol == RpcProtocol.Asio2 ? new Asio2RpcWire(_maxNestingDepth) : new MessagePackRpcWire(_serializer, _maxNestingDepth),
        _defaultTimeout,
        _maxConcurrentCalls,
        IncludeExceptionDetails,
        _streamWindow,
        _maxStreamBufferBytes,
        SendTraceContext && Protocol == RpcProtocol.MessagePackRpc);
}

/// <summary>Resolved, immutable RPC settings.</summary>
internal sealed record RpcSettings(
    RpcProtocol Protocol,
    RpcWire Wire,
    TimeSpan? DefaultTimeout,
    int MaxConcurrentCalls,
    bool IncludeExceptionDetails,
    int StreamWindow,
    int MaxStreamBufferBytes,
    bool SendTraceContext);
