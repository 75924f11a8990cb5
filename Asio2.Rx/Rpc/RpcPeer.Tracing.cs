using System.Diagnostics;
using System.Net;

namespace Asio2.Rx;

// Spans on the "Asio2.Rx" activity source, after OpenTelemetry's RPC conventions: a client span per call this side
// makes and a server span per call it serves, named by the method, with rpc.system ("msgpack_rpc" or "asio2"),
// rpc.method, the peer's address, and error.type (the RpcErrorKind) with status Error when the call failed. On
// MessagePack-RPC with RpcOptions.SendTraceContext the client's context travels with the request and the server span
// is its child; otherwise the server span starts a trace of its own. Nothing is allocated when nobody listens and no
// context is to be sent.
public sealed partial class RpcPeer
{
    private string RpcSystem => _messagePack is null ? "asio2" : "msgpack_rpc";

    /// <summary>Starts the client span of a call or notification; <paramref name="trace"/> is what to send with it.</summary>
    private Activity? StartCallSpan(string method, out RpcTraceContext? trace)
    {
        trace = null;
        bool send = _settings.SendTraceContext;
        if (!Asio2Diagnostics.Source.HasListeners() && !(send && Activity.Current is not null)) return null;
        var carrier = send ? new RpcTraceContext() : null;
        var span = Asio2Diagnostics.StartClientSpan(method, carrier, static (c, field, value) => c!.Set(field, value));
        if (carrier?.TraceParent is not null) trace = carrier;
        if (span is { IsAllDataRequested: true }) Describe(span, method, "server");
        return span;
    }

    /// <summary>Starts the server span of a request or notification this side serves.</summary>
    private Activity? StartServeSpan(in RpcMessage message)
    {
        var span = Asio2Diagnostics.StartServerSpan(message.Method, message.Trace, static (t, field) => t?.Get(field), Session);
        if (span is { IsAllDataRequested: true }) Describe(span, message.Method, "client");
        return span;
    }

    /// <summary>Ends a span: failed with <paramref name="error"/> (<c>error.type</c>), or cancelled by this side, or fine.</summary>
    private static void EndSpan(Activity? span, RpcErrorKind? error, bool cancelled = false)
    {
        if (span is null) return;
        if (error is { } kind)
        {
            span.SetTag("error.type", kind.ToString());
            span.SetStatus(ActivityStatusCode.Error);
        }
        else if (cancelled) span.SetTag("asio2rx.rpc.cancelled", true);
        Asio2Diagnostics.StopSpan(span);
    }

    private void Describe(Activity span, string method, string peerRole)
    {
        span.SetTag("rpc.system", RpcSystem);
        span.SetTag("rpc.method", method);
        if (Session.RemoteEndPoint is IPEndPoint remote)
        {
            var address = (remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address).ToString();
            span.SetTag(peerRole + ".address", address);
            span.SetTag(peerRole + ".port", remote.Port);
        }
    }
}
