using System.Globalization;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// Serves files under a root directory: MIME type by extension, <c>index.html</c> for directories, <c>Range</c>
/// (single and multiple), <c>ETag</c>/<c>If-None-Match</c>, <c>Last-Modified</c>/<c>If-Modified-Since</c>, HEAD; files
/// are streamed from disk through the send queue's window. Paths that leave the root (<c>..</c>, encoded or not,
/// absolute paths, symbolic links pointing outside) are refused with 403.
/// </summary>
internal sealed class StaticFiles
{
    private const int MaxRanges = 16;
    private readonly string _root;
    private readonly string _rootReal;

    public StaticFiles(string root)
    {
        _root = Path.GetFullPath(root);
        if (!Directory.Exists(_root)) throw new DirectoryNotFoundException($"The static file root '{_root}' does not exist.");
        _rootReal = RealPath(_root);
    }

    public void Serve(HttpContext ctx)
    {
        var rest = ctx.RouteValues.TryGetValue("*", out var r) ? r : "";
        var full = Resolve(rest);
        if (full is null)
        {
            ctx.Response.Send(403);
            return;
        }
        if (Directory.Exists(full))
        {
            if (!ctx.Request.Path.EndsWith('/'))
            {
                // Relative links in the index page need the trailing slash.
                ctx.Response.Headers.Set("Location", ctx.Request.RawPath + "/" + (ctx.Request.QueryString.Length > 0 ? "?" + ctx.Request.QueryString : ""));
                ctx.Response.Send(301);
                return;
            }
            full = Path.Combine(full, "index.html");
        }
        if (!IsInside(full))
        {
            ctx.Response.Send(403);
            return;
        }
        Respond(ctx, new FileInfo(full));
    }

    /// <summary>The full path for the route's rest, or null when it would leave the root.</summary>
    private string? Resolve(string rest)
    {
        // The rest is already percent-decoded: "%2e%2e" arrives here as "..", and "%2f" as "/".
        if (rest.Contains('\0') || rest.Contains('\\') || rest.Contains(':')) return null;
        var segments = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => s is "." or "..")) return null;
        var full = Path.GetFullPath(Path.Combine([_root, .. segments]));
        return full == _root || full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? full : null;
    }

    /// <summary>True when the path, with every symbolic link on the way resolved, stays inside the root.</summary>
    private bool IsInside(string full)
    {
        if (!File.Exists(full) && !Directory.Exists(full)) return true; // answered 404 next
        var real = RealPath(full);
        return real == _rootReal || real.StartsWith(_rootReal + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private static string RealPath(string path)
    {
        // Resolve links component by component (a link may sit in any directory on the way).
        var root = Path.GetPathRoot(path)!;
        var current = root;
        foreach (var part in path[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                current = RealPath(target.FullName);
        }
        return current;
    }

    /// <summary>Answers with the file: 404 when missing, 304 when the client's copy is current, 206/416 for ranges.</summary>
    public static void Respond(HttpContext ctx, FileInfo file)
    {
        var response = ctx.Response;
        // A link's own length and dates are not its target's: serve what it points to.
        if (file.Exists && file.LinkTarget is not null && file.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) file = target;
        if (!file.Exists)
        {
            response.Send(404);
            return;
        }
        var request = ctx.Request;
        long length = file.Length;
        var modified = new DateTimeOffset(file.LastWriteTimeUtc.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var etag = $"\"{file.LastWriteTimeUtc.Ticks:x}-{length:x}\"";
        response.Headers.Set("ETag", etag);
        response.Headers.Set("Last-Modified", modified.ToString("r", CultureInfo.InvariantCulture));
        response.Headers.Set("Accept-Ranges", "bytes");
        var contentType = MimeTypes.For(file.Name);

        if (NotModified(request, etag, modified))
        {
            response.Send(304);
            return;
        }
        var ranges = request.Method == "GET" && request.Headers["Range"] is { } range && IfRangeHolds(request, etag, modified)
            ? ParseRanges(range, length)
            : null;
        if (ranges is { Count: 0 })
        {
            response.Headers.Set("Content-Range", $"bytes */{length}");
            response.Send(416);
            return;
        }
        var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        if (ranges is null)
        {
            response.Headers.Set("Content-Type", contentType);
            response.Send(stream, length);
            return;
        }
        response.StatusCode = 206;
        if (ranges.Count == 1)
        {
            var (from, to) = ranges[0];
            response.Headers.Set("Content-Type", contentType);
            response.Headers.Set("Content-Range", $"bytes {from}-{to}/{length}");
            stream.Position = from;
            response.Send(stream, to - from + 1);
            return;
        }
        var boundary = "asio2rx-" + etag.Trim('"');
        response.Headers.Set("Content-Type", "multipart/byteranges; boundary=" + boundary);
        var parts = new List<ByteRangesStream.Part>();
        foreach (var (from, to) in ranges)
        {
            parts.Add(new(Encoding.ASCII.GetBytes($"\r\n--{boundary}\r\nContent-Type: {contentType}\r\nContent-Range: bytes {from}-{to}/{length}\r\n\r\n"), from, to - from + 1));
        }
        var body = new ByteRangesStream(stream, parts, Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n"));
        response.Send(body, body.Length);
    }

    private static bool NotModified(HttpRequest request, string etag, DateTimeOffset modified)
    {
        if (request.Method is not ("GET" or "HEAD")) return false;
        if (request.Headers["If-None-Match"] is { } inm)
            return inm.Trim() == "*" || inm.Split(',').Any(t => WeakEquals(t.Trim(), etag));
        return request.Headers["If-Modified-Since"] is { } ims
            && DateTimeOffset.TryParseExact(ims, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since)
            && modified <= since;
    }

    private static bool WeakEquals(string a, string b) => (a.StartsWith("W/") ? a[2..] : a) == (b.StartsWith("W/") ? b[2..] : b);

    private static bool IfRangeHolds(HttpRequest request, string etag, DateTimeOffset modified)
    {
        if (request.Headers["If-Range"] is not { } ifRange) return true;
        if (ifRange.StartsWith('"')) return ifRange == etag;
        return DateTimeOffset.TryParseExact(ifRange, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) && date == modified;
    }

    /// <summary>The satisfiable ranges (inclusive), empty when none is, or null to ignore the header (malformed, or
    /// more ranges than is reasonable, as RFC 9110 §14.2 allows).</summary>
    internal static List<(long From, long To)>? ParseRanges(string header, long length)
    {
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) return null;
        var specs = header[6..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (specs.Length == 0 || specs.Length > MaxRanges) return null;
        var result = new List<(long, long)>();
        foreach (var spec in specs)
        {
            int dash = spec.IndexOf('-');
            if (dash < 0) return null;
            var a = spec[..dash];
            var b = spec[(dash + 1)..];
            if (a.Length == 0)
            {
                if (!long.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out long suffix)) return null;
                if (suffix == 0 || length == 0) continue;
                result.Add((Math.Max(0, length - suffix), length - 1));
                continue;
            }
            if (!long.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out long from)) return null;
            long to = length - 1;
            if (b.Length > 0)
            {
                if (!long.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out to) || to < from) return null;
                to = Math.Min(to, length - 1);
            }
            if (from >= length) continue;
            result.Add((from, to));
        }
        return result;
    }

    /// <summary>A multipart/byteranges body: each part's header, then its slice of the file; streamed.</summary>
    private sealed class ByteRangesStream : BodyStream
    {
        public readonly record struct Part(byte[] Header, long Offset, long Count);

        private readonly FileStream _file;
        private readonly List<Part> _parts;
        private readonly byte[] _end;
        private int _part;
        private long _inPart; // position within the current part (header, then data)
        private long _endPos;

        public ByteRangesStream(FileStream file, List<Part> parts, byte[] end) : base(file)
        {
            _file = file;
            _parts = parts;
            _end = end;
            Length = parts.Sum(p => p.Header.Length + p.Count) + end.Length;
        }

        public override long Length { get; }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_part < _parts.Count)
            {
                var part = _parts[_part];
                if (_inPart < part.Header.Length)
                {
                    int n = (int)Math.Min(buffer.Length, part.Header.Length - _inPart);
                    part.Header.AsMemory((int)_inPart, n).CopyTo(buffer);
                    _inPart += n;
                    return n;
                }
                long dataPos = _inPart - part.Header.Length;
                if (dataPos < part.Count)
                {
                    _file.Position = part.Offset + dataPos;
                    int want = (int)Math.Min(buffer.Length, part.Count - dataPos);
                    int n = await _file.ReadAsync(buffer[..want], cancellationToken).ConfigureAwait(false);
                    if (n == 0) throw new IOException("the file shrank while being served");
                    _inPart += n;
                    return n;
                }
                _part++;
                _inPart = 0;
            }
            int left = (int)Math.Min(buffer.Length, _end.Length - _endPos);
            _end.AsMemory((int)_endPos, left).CopyTo(buffer);
            _endPos += left;
            return left;
        }
    }
}

/// <summary>MIME types by file extension.</summary>
public static class MimeTypes
{
    private static readonly Dictionary<string, string> s_types = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8", [".htm"] = "text/html; charset=utf-8", [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8", [".mjs"] = "text/javascript; charset=utf-8", [".json"] = "application/json; charset=utf-8",
        [".txt"] = "text/plain; charset=utf-8", [".xml"] = "application/xml", [".csv"] = "text/csv; charset=utf-8", [".md"] = "text/markdown; charset=utf-8",
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif", [".svg"] = "image/svg+xml",
        [".webp"] = "image/webp", [".ico"] = "image/x-icon", [".avif"] = "image/avif", [".bmp"] = "image/bmp",
        [".woff"] = "font/woff", [".woff2"] = "font/woff2", [".ttf"] = "font/ttf", [".otf"] = "font/otf",
        [".mp3"] = "audio/mpeg", [".wav"] = "audio/wav", [".ogg"] = "audio/ogg", [".mp4"] = "video/mp4", [".webm"] = "video/webm",
        [".pdf"] = "application/pdf", [".zip"] = "application/zip", [".gz"] = "application/gzip", [".tar"] = "application/x-tar",
        [".wasm"] = "application/wasm", [".bin"] = "application/octet-stream",
    };

    /// <summary>The MIME type for <paramref name="fileName"/>'s extension; <c>application/octet-stream</c> when unknown.</summary>
    public static string For(string fileName) =>
        s_types.TryGetValue(Path.GetExtension(fileName), out var type) ? type : "application/octet-stream";
}
