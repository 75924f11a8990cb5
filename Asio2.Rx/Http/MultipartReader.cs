using System.Buffers;

namespace Asio2.Rx;

/// <summary>
/// Pulls a request body through <see cref="MultipartParser"/>: the next part's headers, then its data piece by piece.
/// Pieces are the body's own immutable buffers, sliced (no copy) unless a boundary or a header section straddles two
/// of them; then only the straddling bytes and the next piece are joined into a fresh array. Memory held is bounded
/// by one piece plus <see cref="MultipartLimits.MaxPartHeadersSize"/>. One caller at a time.
/// </summary>
internal sealed class MultipartReader : IAsyncDisposable
{
    private readonly HttpRequestBody _body;
    private readonly IAsyncEnumerator<ReadOnlyMemory<byte>> _pieces;
    private readonly MultipartParser _parser;
    private readonly long _maxBodySize;
    private ReadOnlyMemory<byte> _input;
    private long _total;
    private bool _inPart;
    private bool _finished;

    private MultipartReader(HttpRequestBody body, string boundary, MultipartLimits limits, CancellationToken cancellationToken)
    {
        _body = body;
        _parser = new MultipartParser(boundary, limits);
        _maxBodySize = limits.MaxBodySize;
        _pieces = _body.ReadPiecesAsync(cancellationToken).GetAsyncEnumerator();
    }

    /// <summary>Checks the request's <c>Content-Type</c> (before reading anything, so a refusal sends no 100 Continue)
    /// and starts reading its body.</summary>
    public static MultipartReader Open(HttpRequestBody body, string? contentType, MultipartLimits limits, CancellationToken cancellationToken)
    {
        var (mediaType, parameters) = HeaderParameters.Parse(contentType ?? "");
        if (!mediaType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
            throw new HttpRejectedException(HttpRejection.NotMultipart, $"the content type '{mediaType}' is not multipart");
        if (!parameters.TryGetValue("boundary", out var boundary) || !IsValidBoundary(boundary))
            throw new HttpRejectedException(HttpRejection.InvalidMultipart, "the multipart content type has no valid boundary parameter");
        return new MultipartReader(body, boundary, limits, cancellationToken);
    }

    /// <summary>RFC 2046 §5.1.1: 1 to 70 of DIGIT ALPHA '()+_,-./:=? and space, not ending in a space.</summary>
    private static bool IsValidBoundary(string boundary)
    {
        if (boundary.Length is 0 or > 70 || boundary[^1] == ' ') return false;
        foreach (char c in boundary)
            if (!(char.IsAsciiLetterOrDigit(c) || "'()+_,-./:=? ".Contains(c))) return false;
        return true;
    }

    /// <summary>Skips what is left of the current part; returns the next part's headers, or null after the final
    /// boundary (once the epilogue was read to the body's end).</summary>
    public async ValueTask<HttpHeaders?> NextPartAsync()
    {
        while (_inPart)
            await ReadAsync().ConfigureAwait(false);
        while (true)
        {
            var (token, _, headers) = await NextAsync().ConfigureAwait(false);
            if (token == MultipartToken.Headers)
            {
                _inPart = true;
                return headers;
            }
            if (token != MultipartToken.End) continue;
            while (await MorePiecesAsync().ConfigureAwait(false)) { } // the epilogue, ignored
            _finished = true;
            return null;
        }
    }

    /// <summary>The current part's next data; empty when the part ended.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync()
    {
        if (!_inPart) return default;
        var (token, data, _) = await NextAsync().ConfigureAwait(false);
        if (token == MultipartToken.Data) return data;
        _inPart = false; // PartEnd: nothing else can follow data
        return default;
    }

    /// <summary>Reads the rest of the current part into one array; past <paramref name="maxBytes"/> fails with
    /// <see cref="HttpRejection.MultipartPartTooLarge"/> naming <paramref name="what"/>.</summary>
    public async ValueTask<byte[]> ReadPartAsync(int maxBytes, string what)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ReadOnlyMemory<byte> data;
        while (!(data = await ReadAsync().ConfigureAwait(false)).IsEmpty)
        {
            if (buffer.WrittenCount + data.Length > maxBytes)
                throw new HttpRejectedException(HttpRejection.MultipartPartTooLarge, $"a {what} exceeds {maxBytes} bytes");
            buffer.Write(data.Span);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private async ValueTask<(MultipartToken, ReadOnlyMemory<byte>, HttpHeaders?)> NextAsync()
    {
        while (true)
        {
            var token = _parser.Next(_input, out int consumed, out var data, out var headers);
            _input = _input[consumed..];
            if (token != MultipartToken.NeedMore) return (token, data, headers);
            if (!await MorePiecesAsync().ConfigureAwait(false))
                throw new HttpRejectedException(HttpRejection.MultipartIncomplete, "the multipart body ended before its final boundary");
        }
    }

    private async ValueTask<bool> MorePiecesAsync()
    {
        if (!await _pieces.MoveNextAsync().ConfigureAwait(false)) return false;
        var piece = _pieces.Current;
        _total += piece.Length;
        if (_total > _maxBodySize)
            throw new HttpRejectedException(HttpRejection.MultipartBodyTooLarge, $"the multipart body exceeds {_maxBodySize} bytes");
        if (_input.IsEmpty) _input = piece;
        else
        {
            var joined = new byte[_input.Length + piece.Length];
            _input.CopyTo(joined);
            piece.CopyTo(joined.AsMemory(_input.Length));
            _input = joined;
        }
        return true;
    }

    /// <summary>Ends the read; a body not read to its end is discarded as it arrives, so the connection goes on.</summary>
    public async ValueTask DisposeAsync()
    {
        await _pieces.DisposeAsync().ConfigureAwait(false);
        if (!_finished) _body.StopReading();
    }
}

/// <summary>Parses <c>type/subtype; name=value; name="quoted value"</c> header values (Content-Type,
/// Content-Disposition), RFC 9110 §5.6.6, with RFC 8187 <c>name*=UTF-8''escaped</c> values.</summary>
internal static class HeaderParameters
{
    /// <summary>The value before the first ';' (trimmed) and its parameters, names case-insensitive; an extended
    /// <c>name*</c> replaces a plain <c>name</c>.</summary>
    public static (string Value, Dictionary<string, string> Parameters) Parse(string header)
    {
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int semi = header.IndexOf(';');
        var value = (semi < 0 ? header : header[..semi]).Trim();
        int i = semi < 0 ? header.Length : semi + 1;
        var extended = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (i < header.Length)
        {
            int eq = header.IndexOf('=', i);
            if (eq < 0) break;
            var name = header[i..eq].Trim();
            i = eq + 1;
            while (i < header.Length && header[i] is ' ' or '\t') i++;
            string raw;
            if (i < header.Length && header[i] == '"')
            {
                var text = new System.Text.StringBuilder();
                for (i++; i < header.Length && header[i] != '"'; i++)
                {
                    // A quoted-pair: only \" and \\ are unescaped, so a Windows path's backslashes survive.
                    if (header[i] == '\\' && i + 1 < header.Length && header[i + 1] is '"' or '\\') i++;
                    text.Append(header[i]);
                }
                raw = text.ToString();
                i = header.IndexOf(';', Math.Min(i, header.Length));
                i = i < 0 ? header.Length : i + 1;
            }
            else
            {
                int next = header.IndexOf(';', i);
                raw = (next < 0 ? header[i..] : header[i..next]).Trim();
                i = next < 0 ? header.Length : next + 1;
            }
            if (name.EndsWith('*'))
            {
                if (DecodeExtended(raw) is not { } decoded) continue;
                name = name[..^1];
                parameters[name] = decoded;
                extended.Add(name);
            }
            else if (name.Length > 0 && !extended.Contains(name)) parameters.TryAdd(name, raw);
        }
        return (value, parameters);
    }

    /// <summary>RFC 8187 <c>UTF-8'language'percent-escaped</c>; null for another charset or a bad escape.</summary>
    private static string? DecodeExtended(string raw)
    {
        var parts = raw.Split('\'', 3);
        if (parts.Length != 3 || !parts[0].Equals("UTF-8", StringComparison.OrdinalIgnoreCase)) return null;
        try { return Uri.UnescapeDataString(parts[2]); }
        catch (UriFormatException) { return null; }
    }
}
