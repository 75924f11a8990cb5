using Microsoft.Extensions.Logging;

namespace Asio2.Rx.Hosting;

/// <summary>What the hosting layer logs (source-generated: no boxing, no parsing of the template per call).</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Name}: started on {Host}:{Port}")]
    public static partial void Started(ILogger logger, string name, string host, int port);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Name}: the host's shutdown timeout passed before every session drained; closing the rest at once")]
    public static partial void ShutdownTimeout(ILogger logger, string name);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{Name}: stopped")]
    public static partial void Stopped(ILogger logger, string name);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Gave up connecting to {Host}:{Port}")]
    public static partial void ConnectGaveUp(ILogger logger, string host, int port, Exception error);
}
