using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// What the library logs, as source-generated <see cref="LoggerMessageAttribute"/> methods: the level check comes
/// first and arguments are not boxed when the level is off. Event ids are stable per message: 1xx servers,
/// 2xx datagram sockets, 3xx KCP, 4xx ICMP.
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
}
