using System.Buffers.Text;
using System.Reactive.Linq;
using System.Text;

namespace Asio2.Rx;

internal sealed partial class HttpConnection
{
    private byte[] _head = new byte[512];

    /// <summary>Bodies up to this size are copied behind the head and sent with it.</summary>
    private const int InlineBody = 16 * 1024;

    private static bool IsBodiless(HttpContext context) =>
        context.Request.Method == "HEAD" || context.Response.StatusCode is 204 or 304 || (context.Response.StatusCode < 200 && context.Response.Body is not ResponseBody.Upgrade);

    /// <summary>Writes the response; returns null when it is all in the send queue, else the task that finishes it.</summary>
    private Task? WriteResponse(HttpContext context, bool keepAlive)
    {
        var response = context.Response;
        var body = response.Body!;
        bool bodiless = IsBodiless(context);
        bool http10 = context.Request.Head.Version == 10;
        long? length = body.Length;
        bool chunked = length is null && !bodiless && !http10 && body is not ResponseBody.Upgrade;
        int headLength = WriteHead(context, body, length, chunked, keepAlive, http10);
        if (bodiless)
        {
            _session.Send(_head.AsSpan(0, headLength));
            DisposeBody(body);
            return null;
        }
        switch (body)
        {
            case ResponseBody.Upgrade upgrade:
                _session.Send(_head.AsSpan(0, headLength));
                return HandOverAsync(upgrade);
            case ResponseBody.Bytes bytes:
                SendHeadAndBody(headLength, bytes.Data.Span);
                return null;
            case ResponseBody.Text text when length <= InlineBody:
                EnsureHead(headLength + (int)length);
                int n = Encoding.UTF8.GetBytes(text.Value, _head.AsSpan(headLength));
                _session.Send(_head.AsSpan(0, headLength + n));
                return null;
            case ResponseBody.Text text:
                SendHeadAndBody(headLength, Encoding.UTF8.GetBytes(text.Value));
                return null;
            case ResponseBody.StreamBody stream:
                _session.Send(_head.AsSpan(0, headLength));
                return CopyStreamAsync(stream.Stream, length, chunked);
            case ResponseBody.Chunks chunks:
                _session.Send(_head.AsSpan(0, headLength));
                return SendChunksAsync(chunks.Source, chunked);
            default:
                throw new InvalidOperationException("unknown body");
        }
    }

    private void SendHeadAndBody(int headLength, ReadOnlySpan<byte> body)
    {
        // Small responses go out as one send (one copy into the queue, one write with whatever else is batched).
        if (body.Length <= InlineBody)
        {
            EnsureHead(headLength + body.Length);
            body.CopyTo(_head.AsSpan(headLength));
            _session.Send(_head.AsSpan(0, headLength + body.Length));
        }
        else
        {
            _session.Send(_head.AsSpan(0, headLength));
            _session.Send(body);
        }
    }

    private static void DisposeBody(ResponseBody body)
    {
        if (body is ResponseBody.StreamBody s) s.Stream.Dispose();
    }

    /// <summary>After the upgrade's response head: the session flushes it and hands the connection over, with the
    /// bytes read after the request; this connection is then done (the session closes as <see cref="CloseKind.Upgraded"/>).</summary>
    private async Task HandOverAsync(ResponseBody.Upgrade upgrade)
    {
        _done = true;
        _heartbeat.Dispose();
        try
        {
            upgrade.Connection.SetResult(await _session.DetachAsync().ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            upgrade.Connection.SetException(ex);
            throw;
        }
    }

    /// <summary>Streams a body through the session's <c>SendAsync</c>, which reads it as the send queue drains.</summary>
    private async Task CopyStreamAsync(Stream stream, long? length, bool chunked)
    {
        Stream body = chunked ? new ChunkedEncodingStream(stream) : length is { } l ? new LengthLimitedStream(stream, l) : stream;
        await using (body.ConfigureAwait(false))
            await _session.SendAsync(body).ConfigureAwait(false);
    }

    private Task SendChunksAsync(IObservable<ReadOnlyMemory<byte>> source, bool chunked)
    {
        if (!chunked) return _session.SendAsync(source.Where(p => !p.IsEmpty));
        var encoded = source.Where(p => !p.IsEmpty).SelectMany(piece => new[]
        {
            (ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes($"{piece.Length:X}\r\n"), piece, "\r\n"u8.ToArray(),
        }).Concat(Observable.Return((ReadOnlyMemory<byte>)"0\r\n\r\n"u8.ToArray()));
        return _session.SendAsync(encoded);
    }

    /// <summary>An empty-bodied error response, then the connection closes.</summary>
    private void WriteError(int status)
    {
        int n = WriteStatusLine(11, status, 0);
        n = Append(n, "Content-Length: 0\r\nConnection: close\r\n"u8);
        n = WriteCommonHeaders(n);
        n = Append(n, "\r\n"u8);
        _session.Send(_head.AsSpan(0, n));
    }

    private int WriteHead(HttpContext context, ResponseBody body, long? length, bool chunked, bool keepAlive, bool http10)
    {
        var response = context.Response;
        int n = WriteStatusLine(http10 ? 10 : 11, response.StatusCode, 0);
        n = WriteCommonHeaders(n);
        if (length is { } l && !(response.StatusCode is 204 or 304 || response.StatusCode < 200))
        {
            n = Append(n, "Content-Length: "u8);
            EnsureHead(n + 20);
            Utf8Formatter.TryFormat(l, _head.AsSpan(n), out int w);
            n = Append(n + w, "\r\n"u8);
        }
        else if (chunked)
        {
            n = Append(n, "Transfer-Encoding: chunked\r\n"u8);
        }
        if (body is ResponseBody.Upgrade) n = Append(n, "Connection: Upgrade\r\n"u8);
        else if (!keepAlive) n = Append(n, "Connection: close\r\n"u8);
        else if (http10) n = Append(n, "Connection: keep-alive\r\n"u8);
        foreach (var (name, value) in response.Headers.Fields)
        {
            if (IsFramingHeader(name)) continue;
            n = AppendText(n, name);
            n = Append(n, ": "u8);
            n = AppendText(n, value);
            n = Append(n, "\r\n"u8);
        }
        return Append(n, "\r\n"u8);
    }

    private static bool IsFramingHeader(string name) =>
        name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Date", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Server", StringComparison.OrdinalIgnoreCase);

    private int WriteStatusLine(int version, int status, int n)
    {
        if (version == 11 && status == 200) return Append(n, "HTTP/1.1 200 OK\r\n"u8);
        n = Append(n, version == 10 ? "HTTP/1.0 "u8 : "HTTP/1.1 "u8);
        EnsureHead(n + 4);
        Utf8Formatter.TryFormat(status, _head.AsSpan(n), out int w);
        n = Append(n + w, " "u8);
        n = AppendText(n, HttpStatus.ReasonPhrase(status));
        return Append(n, "\r\n"u8);
    }

    private int WriteCommonHeaders(int n)
    {
        n = Append(n, HttpDate.HeaderLine(_session.Scheduler.Now));
        if (_server.ServerHeaderLine is { } server) n = Append(n, server);
        return n;
    }

    private int Append(int n, ReadOnlySpan<byte> bytes)
    {
        EnsureHead(n + bytes.Length);
        bytes.CopyTo(_head.AsSpan(n));
        return n + bytes.Length;
    }

    private int AppendText(int n, string text)
    {
        EnsureHead(n + text.Length);
        // Latin-1, with CR/LF replaced: a header value from user code must not be able to split the response.
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            _head[n++] = c is '\r' or '\n' || c > 0xFF ? (byte)' ' : (byte)c;
        }
        return n;
    }

    private void EnsureHead(int size)
    {
        if (size <= _head.Length) return;
        Array.Resize(ref _head, Math.Max(size, _head.Length * 2));
    }
}

/// <summary>Status reason phrases.</summary>
internal static class HttpStatus
{
    public static string ReasonPhrase(int status) => status switch
    {
        100 => "Continue", 101 => "Switching Protocols",
        200 => "OK", 201 => "Created", 202 => "Accepted", 204 => "No Content", 206 => "Partial Content",
        301 => "Moved Permanently", 302 => "Found", 303 => "See Other", 304 => "Not Modified", 307 => "Temporary Redirect", 308 => "Permanent Redirect",
        400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 405 => "Method Not Allowed",
        408 => "Request Timeout", 409 => "Conflict", 411 => "Length Required", 412 => "Precondition Failed", 413 => "Content Too Large",
        414 => "URI Too Long", 415 => "Unsupported Media Type", 416 => "Range Not Satisfiable", 417 => "Expectation Failed",
        426 => "Upgrade Required", 429 => "Too Many Requests", 431 => "Request Header Fields Too Large",
        500 => "Internal Server Error", 501 => "Not Implemented", 502 => "Bad Gateway", 503 => "Service Unavailable", 505 => "HTTP Version Not Supported",
        _ => "",
    };
}

/// <summary>The <c>Date</c> header line (RFC 9110 §5.6.7), formatted once per second.</summary>
internal static class HttpDate
{
    private sealed record Cached(long Second, byte[] Line);

    private static Cached s_cached = new(-1, []);

    public static byte[] HeaderLine(DateTimeOffset now)
    {
        long second = now.UtcTicks / TimeSpan.TicksPerSecond;
        var cached = Volatile.Read(ref s_cached);
        if (cached.Second == second) return cached.Line;
        var line = Encoding.ASCII.GetBytes("Date: " + now.UtcDateTime.ToString("r", System.Globalization.CultureInfo.InvariantCulture) + "\r\n");
        Volatile.Write(ref s_cached, new Cached(second, line));
        return line;
    }
}
