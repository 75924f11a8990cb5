using System.Text;
using System.Text.Json;

namespace Asio2.Rx;

/// <summary>
/// The response to one request: set <see cref="StatusCode"/> and <see cref="Headers"/>, then call one <c>Send</c>
/// method, once. <c>Send</c> may be called from any thread, at any later time (asio2's <c>defer</c>); responses on a
/// connection still go out in request order. Bodies from a <see cref="Stream"/>, a file or an observable are written
/// as the send queue drains, never buffered whole.
/// </summary>
public sealed class HttpResponse
{
    private readonly HttpContext _context;
    private int _sent;

    internal HttpResponse(HttpContext context) => _context = context;

    /// <summary>The status code. Defaults to 200.</summary>
    public int StatusCode { get; set; } = 200;

    /// <summary>Headers to send. <c>Content-Length</c>, <c>Transfer-Encoding</c>, <c>Connection</c>, <c>Date</c> and
    /// <c>Server</c> are written by the server.</summary>
    public HttpHeaders Headers { get; } = new();

    /// <summary>True once a <c>Send</c> method was called.</summary>
    public bool HasStarted => Volatile.Read(ref _sent) != 0;

    internal ResponseBody? Body { get; private set; }

    /// <summary>Sends the UTF-8 text (<c>text/plain; charset=utf-8</c> unless a Content-Type is set).</summary>
    public void Send(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Commit(new ResponseBody.Text(text), "text/plain; charset=utf-8");
    }

    /// <summary>Sends <paramref name="statusCode"/> with an empty body.</summary>
    public void Send(int statusCode)
    {
        StatusCode = statusCode;
        Commit(ResponseBody.Empty, null);
    }

    /// <summary>Sends <paramref name="statusCode"/> with the text as body.</summary>
    public void Send(int statusCode, string text)
    {
        StatusCode = statusCode;
        Send(text);
    }

    /// <summary>Sends the bytes (<c>application/octet-stream</c> unless a Content-Type is set). Not copied: do not
    /// change them until the response was written.</summary>
    public void Send(ReadOnlyMemory<byte> body) => Commit(new ResponseBody.Bytes(body), "application/octet-stream");

    /// <summary>Sends <paramref name="value"/> as JSON (<c>application/json</c>).</summary>
    public void SendJson<T>(T value) => Commit(new ResponseBody.Bytes(JsonSerializer.SerializeToUtf8Bytes(value)), "application/json; charset=utf-8");

    /// <summary>Streams <paramref name="body"/> (read as the send queue drains; disposed after). With a length (given,
    /// or the stream's when it can seek) the body has a Content-Length; otherwise it is chunked (closed-delimited for
    /// HTTP/1.0).</summary>
    public void Send(Stream body, long? length = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        length ??= body.CanSeek ? body.Length - body.Position : null;
        Commit(new ResponseBody.StreamBody(body, length), "application/octet-stream");
    }

    /// <summary>Sends the pieces as a chunked body (close-delimited for HTTP/1.0), one chunk per piece, as they come.</summary>
    public void SendChunks(IObservable<ReadOnlyMemory<byte>> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        Commit(new ResponseBody.Chunks(chunks), "application/octet-stream");
    }

    /// <summary>Sends a file: MIME type by extension, streamed from disk, with ETag, Last-Modified, Range and conditional
    /// requests handled as the static file handler does. A missing file answers 404.</summary>
    public void SendFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        StaticFiles.Respond(_context, new FileInfo(path));
    }

    internal void Commit(ResponseBody body, string? defaultContentType)
    {
        if (Interlocked.Exchange(ref _sent, 1) != 0) throw new InvalidOperationException("The response was already sent.");
        if (defaultContentType is not null && !Headers.Contains("Content-Type")) Headers.Add("Content-Type", defaultContentType);
        Body = body;
        _context.Completed();
    }

    /// <summary>Replaces whatever was planned by an error status (a handler failed before sending).</summary>
    internal bool TryCommitError(int statusCode)
    {
        if (Interlocked.Exchange(ref _sent, 1) != 0) return false;
        StatusCode = statusCode;
        Headers.Remove("Content-Type");
        Body = ResponseBody.Empty;
        _context.Completed();
        return true;
    }
}

/// <summary>What a response's body is made of; the connection writes it.</summary>
internal abstract class ResponseBody
{
    public static readonly ResponseBody Empty = new Bytes(ReadOnlyMemory<byte>.Empty);

    /// <summary>Known length, or null (chunked, or close-delimited for HTTP/1.0).</summary>
    public abstract long? Length { get; }

    public sealed class Bytes(ReadOnlyMemory<byte> data) : ResponseBody
    {
        public ReadOnlyMemory<byte> Data => data;
        public override long? Length => data.Length;
    }

    /// <summary>A string, encoded as UTF-8 when it is written (straight into the response head's buffer when small).</summary>
    public sealed class Text(string text) : ResponseBody
    {
        private readonly int _length = Encoding.UTF8.GetByteCount(text);
        public string Value => text;
        public override long? Length => _length;
    }

    public sealed class StreamBody(Stream stream, long? length) : ResponseBody
    {
        public Stream Stream => stream;
        public override long? Length => length;
    }

    /// <summary>Not a body: the response head of an accepted upgrade, then the connection is handed over.</summary>
    public sealed class Upgrade : ResponseBody
    {
        public TaskCompletionSource<DetachedConnection> Connection { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override long? Length => null;
    }

    public sealed class Chunks(IObservable<ReadOnlyMemory<byte>> source) : ResponseBody
    {
        public IObservable<ReadOnlyMemory<byte>> Source => source;
        public override long? Length => null;
    }
}
