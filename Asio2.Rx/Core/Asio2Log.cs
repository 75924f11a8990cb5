using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// What the library logs, as source-generated <see cref="LoggerMessageAttribute"/> methods: the level check comes
/// first and arguments are not boxed when the level is off. Event ids are stable per message: 1xx servers,
/// 2xx datagram sockets, 3xx KCP, 4xx ICMP, 5xx sessions, 6xx clients, 7xx HTTP, 8xx RPC, 9xx WebSocket.
/// </summary>
internal static partial class Asio2Log
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "{Transport} server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string transport, EndPoint? endPoint);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "{Transport} server: dropping a connection that failed during set-up")]
    public static partial void AcceptSetupFailed(ILogger logger, Exception error, string transport);

    [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "{Transport} {Local}: ignored receive error {Error}")]
    public static partial void ReceiveErrorIgnored(ILogger logger, string transport, EndPoint? local, SocketError error);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "{Transport} {Local}: a datagram handler threw")]
    public static partial void DatagramHandlerFailed(ILogger logger, Exception error, string transport, EndPoint? local);

    [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "{Transport} {Local}: the socket failed")]
    public static partial void SocketFailed(ILogger logger, Exception error, string transport, EndPoint? local);

    [LoggerMessage(EventId = 203, Level = LogLevel.Debug, Message = "{Transport} {Local}: a send failed: {Error}")]
    public static partial void SendFailed(ILogger logger, string transport, EndPoint? local, SocketError error);

    [LoggerMessage(EventId = 204, Level = LogLevel.Error, Message = "udp endpoint {Local}: a Received subscriber threw")]
    public static partial void ReceivedSubscriberFailed(ILogger logger, Exception error, EndPoint? local);

    [LoggerMessage(EventId = 205, Level = LogLevel.Error, Message = "udp endpoint: a Received subscriber threw on completion")]
    public static partial void ReceivedCompletionFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "{Session} KCP work item failed")]
    public static partial void KcpWorkFailed(ILogger logger, Exception error, Session session);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "{Session} owner release callback failed")]
    public static partial void KcpReleaseFailed(ILogger logger, Exception error, Session session);

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "ICMP echo request {Sequence} to {Destination} could not be sent")]
    public static partial void PingSendFailed(ILogger logger, Exception error, long sequence, IPAddress destination);

    [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "ICMP socket for {Destination} failed")]
    public static partial void PingSocketFailed(ILogger logger, Exception error, IPAddress destination);

    // 102-106: servers (continued)

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "{Transport} server: accept failed ({Error}); accepting again in {Delay} ms")]
    public static partial void AcceptBackOff(ILogger logger, Exception exception, string transport, SocketError error, double delay);

    [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "{Session}: a Sessions subscriber threw; closing this session only")]
    public static partial void SessionsSubscriberFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "{Transport} server: a Sessions subscriber has no error handler")]
    public static partial void SessionsSubscriberHasNoErrorHandler(ILogger logger, Exception exception, string transport);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Transport} server: a Sessions subscriber threw on completion")]
    public static partial void SessionsCompletionFailed(ILogger logger, Exception exception, string transport);

    [LoggerMessage(EventId = 106, Level = LogLevel.Error, Message = "{Transport} server: {Message}")]
    public static partial void ServerFailed(ILogger logger, Exception exception, string transport, string message);

    // 5xx: sessions

    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "{Session} closing: {Reason}")]
    public static partial void Closing(ILogger logger, Session session, CloseReason reason);

    [LoggerMessage(EventId = 501, Level = LogLevel.Debug, Message = "{Session} discard failed")]
    public static partial void DiscardFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 502, Level = LogLevel.Debug, Message = "{Session} transport close failed")]
    public static partial void TransportCloseFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 503, Level = LogLevel.Warning, Message = "{Session} closed by an unexpected error: {Reason}")]
    public static partial void ClosedByUnexpectedError(ILogger logger, Exception? exception, Session session, CloseReason reason);

    [LoggerMessage(EventId = 504, Level = LogLevel.Information, Message = "{Session} closed: {Reason}")]
    public static partial void Closed(ILogger logger, Exception? exception, Session session, CloseReason reason);

    [LoggerMessage(EventId = 505, Level = LogLevel.Error, Message = "{Session} owner callback failed")]
    public static partial void OwnerCallbackFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 506, Level = LogLevel.Error, Message = "{Session} a subscriber threw while the session was closing")]
    public static partial void SubscriberFailedWhileClosing(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 507, Level = LogLevel.Error, Message = "{Session} a subscriber threw; closing this session only")]
    public static partial void SubscriberFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 508, Level = LogLevel.Debug, Message = "{Session} write failed")]
    public static partial void WriteFailed(ILogger logger, Exception exception, Session session);

    // 6xx: clients

    [LoggerMessage(EventId = 600, Level = LogLevel.Debug, Message = "{Session} connected")]
    public static partial void Connected(ILogger logger, Session session);

    [LoggerMessage(EventId = 601, Level = LogLevel.Error, Message = "{Session}: a Connections subscriber threw; closing this connection")]
    public static partial void ConnectionsSubscriberFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 602, Level = LogLevel.Debug, Message = "connect to {Target} failed: {Reason}")]
    public static partial void ConnectFailed(ILogger logger, string target, CloseReason reason);

    // 7xx: HTTP

    [LoggerMessage(EventId = 700, Level = LogLevel.Error, Message = "{Session} handler for {Request} failed; answering {Status}")]
    public static partial void HttpHandlerFailed(ILogger logger, Exception exception, Session session, HttpContext request, int status);

    [LoggerMessage(EventId = 701, Level = LogLevel.Error, Message = "{Session} an After hook for {Request} failed")]
    public static partial void HttpAfterHookFailed(ILogger logger, Exception exception, Session session, HttpContext request);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "HTTP server: requests still in flight after {Timeout}; closing their connections")]
    public static partial void HttpShutdownTimeout(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 703, Level = LogLevel.Debug, Message = "{Session} request refused: {Reason} ({Message})")]
    public static partial void HttpRequestRefused(ILogger logger, Session session, HttpRejection reason, string message);

    [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "{Session} writing the response to {Request} failed")]
    public static partial void HttpWriteFailed(ILogger logger, Exception exception, Session session, HttpContext request);

    // 8xx: RPC

    [LoggerMessage(EventId = 800, Level = LogLevel.Information, Message = "{Session} refused an RPC message: {Reason}")]
    public static partial void RpcMessageRefused(ILogger logger, Exception exception, Session session, string reason);

    [LoggerMessage(EventId = 801, Level = LogLevel.Debug, Message = "{Session} RPC function '{Method}' threw")]
    public static partial void RpcFunctionFailed(ILogger logger, Exception exception, Session session, string method);

    // 9xx: WebSocket

    [LoggerMessage(EventId = 900, Level = LogLevel.Debug, Message = "{Session} receive failed")]
    public static partial void WebSocketReceiveFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 901, Level = LogLevel.Debug, Message = "{Session} close handshake failed")]
    public static partial void WebSocketCloseFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 902, Level = LogLevel.Debug, Message = "{Session} ping failed")]
    public static partial void WebSocketPingFailed(ILogger logger, Exception exception, Session session);

    [LoggerMessage(EventId = 903, Level = LogLevel.Debug, Message = "WebSocket upgrade of {Request} did not complete")]
    public static partial void WebSocketUpgradeIncomplete(ILogger logger, Exception exception, HttpRequest request);
}
