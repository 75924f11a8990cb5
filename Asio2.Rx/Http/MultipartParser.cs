using System.Text;

namespace Asio2.Rx;

/// <summary>What <see cref="MultipartParser.Next"/> found.</summary>
internal enum MultipartToken
{
    /// <summary>Nothing more in this input: offer the unconsumed rest again with more bytes.</summary>
    NeedMore,
    /// <summary>A part begins: its header section.</summary>
    Headers,
    /// <summary>Bytes of the current part's body.</summary>
    Data,
    /// <summary>The current part's body ended at a boundary.</summary>
    PartEnd,
    /// <summary>The final boundary (<c>--boundary--</c>): what follows is epilogue, ignored.</summary>
    End,
}

/// <summary>
/// The multipart body grammar of RFC 2046 §5.1.1 (as RFC 7578 uses it), pure and synchronous: fed the unconsumed
/// input, it says what comes next and how many bytes it used. Preamble and epilogue are skipped; a boundary split
/// across inputs is found because the bytes that could begin one are never consumed as data; part headers are
/// strict (CRLF only, no obs-fold, token names, no control characters), as the request head is.
/// </summary>
/// <remarks>Limits on part count, part header size and part size are checked here; the whole body's size is the
/// reader's. Violations throw <see cref="HttpRejectedException"/>.</remarks>
internal sealed class MultipartParser
{
    private enum State { Start, Preamble, AfterBoundary, Headers, Body, Epilogue }

    private readonly byte[] _delimiter; // CRLF "--" boundary: a boundary is only one at the start of a line
    private readonly MultipartLimits _limits;
    private State _state;
    private int _parts;
    private long _partSize;

    public MultipartParser(string boundary, MultipartLimits limits)
    {
        _delimiter = Encoding.ASCII.GetBytes("\r\n--" + boundary);
        _limits = limits;
    }

    /// <summary>True after the final boundary.</summary>
    public bool IsDone => _state == State.Epilogue;

    /// <summary>Reads the next token from <paramref name="input"/>. <paramref name="data"/> (a slice of the input, for
    /// <see cref="MultipartToken.Data"/>) and <paramref name="headers"/> (for <see cref="MultipartToken.Headers"/>)
    /// are set by their tokens; <paramref name="consumed"/> bytes of the input are done with.</summary>
    public MultipartToken Next(ReadOnlyMemory<byte> input, out int consumed, out ReadOnlyMemory<byte> data, out HttpHeaders? headers)
    {
        data = default;
        headers = null;
        int pos = 0;
        while (true)
        {
            var span = input.Span[pos..];
            switch (_state)
            {
                case State.Start:
                    // The first boundary may open the body without the CRLF before it (RFC 2046: no preamble).
                    var dashBoundary = _delimiter.AsSpan(2);
                    if (span.Length < dashBoundary.Length && dashBoundary.StartsWith(span))
                    {
                        consumed = pos;
                        return MultipartToken.NeedMore;
                    }
                    if (span.StartsWith(dashBoundary))
                    {
                        pos += dashBoundary.Length;
                        _state = State.AfterBoundary;
                    }
                    else _state = State.Preamble;
                    continue;

                case State.Preamble:
                    int found = span.IndexOf(_delimiter);
                    if (found < 0)
                    {
                        consumed = pos + SafeLength(span);
                        return MultipartToken.NeedMore;
                    }
                    pos += found + _delimiter.Length;
                    _state = State.AfterBoundary;
                    continue;

                case State.AfterBoundary:
                    if (span.Length < 2) break;
                    if (span[0] == '-' && span[1] == '-')
                    {
                        consumed = pos + 2;
                        _state = State.Epilogue;
                        return MultipartToken.End;
                    }
                    // Transport padding (RFC 2046: linear whitespace) may follow a boundary before its CRLF.
                    int pad = span.IndexOfAnyExcept((byte)' ', (byte)'\t');
                    if (pad < 0 || pad + 1 >= span.Length)
                    {
                        if (span.Length > _limits.MaxPartHeadersSize) throw Invalid("the padding after a boundary is too long");
                        break;
                    }
                    if (span[pad] != '\r' || span[pad + 1] != '\n') throw Invalid("a boundary is not followed by CRLF or '--'");
                    if (++_parts > _limits.MaxParts)
                        throw new HttpRejectedException(HttpRejection.MultipartTooManyParts, $"the multipart body has more than {_limits.MaxParts} parts");
                    pos += pad + 2;
                    _state = State.Headers;
                    continue;

                case State.Headers:
                    // A part may have no header fields at all: then its header section is the blank line alone.
                    int end = span.StartsWith("\r\n"u8) ? 0 : span.IndexOf("\r\n\r\n"u8);
                    int length = end == 0 ? 2 : end + 4;
                    if (end < 0 ? span.Length >= _limits.MaxPartHeadersSize : length > _limits.MaxPartHeadersSize)
                        throw new HttpRejectedException(HttpRejection.MultipartHeadersTooLarge, $"a part's header section exceeds {_limits.MaxPartHeadersSize} bytes");
                    if (end < 0) break;
                    headers = ParseHeaders(span[..end]);
                    consumed = pos + length;
                    _state = State.Body;
                    _partSize = 0;
                    return MultipartToken.Headers;

                case State.Body:
                    int at = span.IndexOf(_delimiter);
                    if (at == 0)
                    {
                        consumed = pos + _delimiter.Length;
                        _state = State.AfterBoundary;
                        return MultipartToken.PartEnd;
                    }
                    int n = at > 0 ? at : SafeLength(span);
                    if (n == 0) break;
                    _partSize += n;
                    if (_partSize > _limits.MaxPartSize)
                        throw new HttpRejectedException(HttpRejection.MultipartPartTooLarge, $"a part exceeds {_limits.MaxPartSize} bytes");
                    data = input.Slice(pos, n);
                    consumed = pos + n;
                    return MultipartToken.Data;

                case State.Epilogue:
                    consumed = input.Length;
                    return MultipartToken.NeedMore;
            }
            consumed = pos;
            return MultipartToken.NeedMore;
        }
    }

    /// <summary>How many leading bytes of <paramref name="span"/> (which holds no whole delimiter) cannot be the start
    /// of a delimiter that continues in the next input.</summary>
    private int SafeLength(ReadOnlySpan<byte> span)
    {
        for (int k = Math.Max(0, span.Length - _delimiter.Length + 1); k < span.Length; k++)
            if (span[k] == '\r' && _delimiter.AsSpan().StartsWith(span[k..])) return k;
        return span.Length;
    }

    private static HttpHeaders ParseHeaders(ReadOnlySpan<byte> block)
    {
        var headers = new HttpHeaders(2);
        while (!block.IsEmpty)
        {
            int eol = block.IndexOf("\r\n"u8);
            var line = eol < 0 ? block : block[..eol];
            block = eol < 0 ? default : block[(eol + 2)..];
            if (line.IsEmpty || line[0] is (byte)' ' or (byte)'\t') throw Invalid("a part header line is empty or folded (obs-fold)");
            int colon = line.IndexOf((byte)':');
            if (colon <= 0 || !HttpHeadParser.IsToken(line[..colon])) throw Invalid("a part header has no valid field name before its colon");
            var value = line[(colon + 1)..].Trim(" \t"u8);
            foreach (var b in value)
                if ((b < 0x20 && b != '\t') || b == 0x7F) throw Invalid("a part header value holds a control character (bare CR or LF, NUL, ...)");
            // Browsers send file names as raw UTF-8 (WHATWG); names are ASCII tokens.
            headers.AddParsed(Encoding.ASCII.GetString(line[..colon]), Encoding.UTF8.GetString(value));
        }
        return headers;
    }

    private static HttpRejectedException Invalid(string message) => new(HttpRejection.InvalidMultipart, message);
}
