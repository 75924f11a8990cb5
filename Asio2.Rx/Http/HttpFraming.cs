using System.Collections.Concurrent;

namespace Asio2.Rx;

/// <summary>
/// The HTTP/1.1 request framing: cuts a connection's bytes into a head frame per request, then body pieces (the
/// chunked coding removed), with a per-connection decoder. What each frame is travels beside it in the decoder's
/// <see cref="HttpRequestDecoder.Items"/> queue, one item per frame, in order.
/// </summary>
internal sealed class HttpFraming : Framing
{
    private readonly HttpLimits _limits;

    /// <summary>Chunk-size lines (size and extensions) longer than this are refused; Kestrel allows no more either.</summary>
    internal const int MaxChunkLine = 4096;

    public HttpFraming(HttpLimits limits) : base(DefaultMaxFrameSize) => _limits = limits;

    /// <summary>A decoder decides (a frame, or a refusal) before the buffer holds more than a request line and a header
    /// section, so the read buffer never grows past this.</summary>
    internal override int MaxEncodedFrameSize => Math.Max(_limits.MaxRequestLineSize, HttpFraming.MaxChunkLine) + _limits.MaxRequestHeadersTotalSize + 2;

    internal override FrameDecoder CreateDecoder() => new HttpRequestDecoder(_limits);
}

/// <summary>What one frame of the HTTP framing is.</summary>
internal enum HttpItemKind : byte
{
    /// <summary>A request head (<see cref="HttpItem.Head"/>); the frame's bytes are not needed.</summary>
    Head,
    /// <summary>A piece of the current request's body (may be empty: framing bytes only); <see cref="HttpItem.End"/> on the last.</summary>
    Body,
    /// <summary>The input was refused; the connection answers <see cref="HttpItem.Rejection"/> and closes. Nothing follows.</summary>
    Rejected,
}

internal readonly record struct HttpItem(HttpItemKind Kind, HttpRequestHead? Head = null, bool End = false, HttpRejectedException? Rejection = null);

/// <summary>
/// The per-connection request parser. Pure: no I/O. It runs on the session's read loop and the connection consumes
/// <see cref="Items"/> on the session's scheduler, which may be another thread (virtual time), hence the concurrent queue.
/// </summary>
internal sealed class HttpRequestDecoder : FrameDecoder
{
    private enum State : byte { Head, Length, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Paused, Dead }

    private readonly int _maxLine;
    private readonly int _maxHeaders;
    private readonly int _maxHeaderCount;
    private readonly long _maxBody;
    private State _state;
    private long _remaining; // Length: body bytes left; ChunkData: bytes left in the chunk
    private long _bodyTotal; // chunked: body bytes so far
    // Head scan, resumed across calls (the same bytes come again, with more): start of the first incomplete line,
    // where the header section starts, and how many header lines were seen.
    private int _scan;
    private int _headersStart = -1;
    private int _headerCount;
    private volatile bool _partialHead;
    private readonly HttpStrings _strings = new();

    public HttpRequestDecoder(HttpLimits limits)
    {
        _maxLine = limits.MaxRequestLineSize;
        _maxHeaders = limits.MaxRequestHeadersTotalSize;
        _maxHeaderCount = limits.MaxRequestHeaderCount;
        _maxBody = limits.MaxRequestBodySize;
    }

    /// <summary>What each decoded frame is, in frame order.</summary>
    public ConcurrentQueue<HttpItem> Items { get; } = new();

    /// <summary>True while some bytes of a request head have arrived but not all of it (the request-headers timeout runs).</summary>
    public bool HasPartialHead => _partialHead;

    /// <summary>Stops decoding after an upgrade request: the bytes that follow belong to the new protocol.</summary>
    public bool IsPaused => _state == State.Paused;

    public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
    {
        var span = buffer.Span;
        frame = default;
        try
        {
            switch (_state)
            {
                case State.Head: return TryHead(span, out frame);
                case State.Length:
                {
                    if (span.IsEmpty) return false;
                    int n = (int)Math.Min(span.Length, _remaining);
                    _remaining -= n;
                    bool end = _remaining == 0;
                    if (end) _state = State.Head;
                    Items.Enqueue(new HttpItem(HttpItemKind.Body, End: end));
                    frame = new FrameBounds(n, 0, n);
                    return true;
                }
                case State.Paused:
                case State.Dead:
                    return false;
                default:
                {
                    var chunk = new ChunkReader(_state, _remaining, _bodyTotal, _maxBody, _maxHeaders);
                    var step = chunk.Step(span);
                    if (step.Consumed == 0) return false;
                    (_state, _remaining, _bodyTotal) = (chunk.State, chunk.Remaining, chunk.Total);
                    if (step.End) _state = State.Head;
                    Items.Enqueue(new HttpItem(HttpItemKind.Body, End: step.End));
                    frame = new FrameBounds(step.Consumed, step.PayloadOffset, step.PayloadLength);
                    return true;
                }
            }
        }
        catch (HttpRejectedException rejected)
        {
            // Refused: one frame takes everything buffered, so nothing after the bad bytes is ever parsed.
            _state = State.Dead;
            _partialHead = false;
            Items.Enqueue(new HttpItem(HttpItemKind.Rejected, Rejection: rejected));
            frame = new FrameBounds(Math.Max(1, span.Length), 0, 0);
            return true;
        }
    }

    private bool TryHead(ReadOnlySpan<byte> span, out FrameBounds frame)
    {
        frame = default;
        int pos = _scan;
        if (_headersStart < 0)
        {
            // RFC 9112 §2.2: empty lines before a request line are ignored (they count against the line limit).
            while (pos < span.Length && span[pos] == '\r' && pos + 1 < span.Length && span[pos + 1] == '\n') pos += 2;
            if (pos < span.Length && span[pos] == '\n') HttpHeadParser.Reject(HttpRejection.InvalidRequestLine, "a bare LF before the request line");
            _scan = pos;
            int eol = span[pos..].IndexOf((byte)'\n');
            if (eol < 0)
            {
                if (span.Length > _maxLine) HttpHeadParser.Reject(HttpRejection.RequestLineTooLong, $"the request line exceeds {_maxLine} bytes");
                _partialHead = span.Length > 0;
                return false;
            }
            eol += pos;
            if (eol + 1 > _maxLine) HttpHeadParser.Reject(HttpRejection.RequestLineTooLong, $"the request line exceeds {_maxLine} bytes");
            CheckCrlf(span, eol, HttpRejection.InvalidRequestLine);
            pos = _scan = _headersStart = eol + 1;
        }
        while (true)
        {
            int eol = span[pos..].IndexOf((byte)'\n');
            if (eol < 0)
            {
                if (span.Length - _headersStart > _maxHeaders) HttpHeadParser.Reject(HttpRejection.HeadersTooLarge, $"the header section exceeds {_maxHeaders} bytes");
                _scan = pos;
                _partialHead = true;
                return false;
            }
            eol += pos;
            CheckCrlf(span, eol, HttpRejection.InvalidHeader);
            if (eol + 1 - _headersStart > _maxHeaders) HttpHeadParser.Reject(HttpRejection.HeadersTooLarge, $"the header section exceeds {_maxHeaders} bytes");
            if (eol == pos + 1) { pos = eol + 1; break; } // the empty line: end of the head
            if (++_headerCount > _maxHeaderCount) HttpHeadParser.Reject(HttpRejection.HeadersTooLarge, $"more than {_maxHeaderCount} header fields");
            pos = eol + 1;
        }

        // The request line begins after any leading empty lines (already checked to be CRLFs).
        int requestLine = 0;
        while (span[requestLine] == '\r') requestLine += 2;
        var head = HttpHeadParser.Parse(span[requestLine..(pos - 2)], _headerCount, _strings);
        int consumed = pos;
        if (head.Chunked)
        {
            // Look ahead through the chunked body already buffered: a malformed body that arrived with its head is
            // refused before any handler sees the request (the smuggling corpus relies on it).
            var ahead = new ChunkReader(State.ChunkSize, 0, 0, _maxBody, _maxHeaders);
            var rest = span[consumed..];
            while (!rest.IsEmpty)
            {
                var step = ahead.Step(rest);
                if (step.Consumed == 0 || step.End) break;
                rest = rest[step.Consumed..];
            }
            _state = State.ChunkSize;
            _bodyTotal = 0;
        }
        else if (head.ContentLength > 0)
        {
            if (head.ContentLength > _maxBody) HttpHeadParser.Reject(HttpRejection.BodyTooLarge, $"Content-Length {head.ContentLength} exceeds {_maxBody}");
            _state = State.Length;
            _remaining = head.ContentLength;
        }
        else if (head.Upgrade is not null)
        {
            _state = State.Paused;
        }
        _scan = 0;
        _headersStart = -1;
        _headerCount = 0;
        _partialHead = false;
        Items.Enqueue(new HttpItem(HttpItemKind.Head, head));
        frame = new FrameBounds(consumed, 0, 0);
        return true;
    }

    private static void CheckCrlf(ReadOnlySpan<byte> span, int lf, HttpRejection reason)
    {
        // A bare LF (CVE-2025-55315's class) or a stray CR is refused wherever CRLF is required.
        if (lf == 0 || span[lf - 1] != '\r') HttpHeadParser.Reject(reason, "a bare LF where CRLF is required");
    }

    /// <summary>One step of the chunked coding (RFC 9112 §7.1), on a copy of the state so it can also look ahead.</summary>
    private struct ChunkReader(State state, long remaining, long total, long maxBody, int maxTrailers)
    {
        public State State = state;
        public long Remaining = remaining;
        public long Total = total;

        public readonly record struct Result(int Consumed, int PayloadOffset, int PayloadLength, bool End);

        public Result Step(ReadOnlySpan<byte> span)
        {
            switch (State)
            {
                case State.ChunkSize:
                {
                    int limit = Math.Min(span.Length, HttpFraming.MaxChunkLine);
                    int lf = span[..limit].IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        if (span.Length >= HttpFraming.MaxChunkLine) HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk-size line is too long");
                        return default;
                    }
                    CheckCrlf(span, lf, HttpRejection.InvalidChunk);
                    long size = ParseChunkLine(span[..(lf - 1)]);
                    if (size > maxBody - Total) HttpHeadParser.Reject(HttpRejection.BodyTooLarge, $"the chunked body exceeds {maxBody} bytes");
                    int consumed = lf + 1;
                    if (size == 0)
                    {
                        State = State.Trailers;
                        var trailers = Step(span[consumed..]);
                        return trailers.End ? new Result(consumed + trailers.Consumed, 0, 0, true) : new Result(consumed, 0, 0, false);
                    }
                    State = State.ChunkData;
                    Remaining = size;
                    if (span.Length == consumed) return new Result(consumed, 0, 0, false);
                    var data = Step(span[consumed..]);
                    return new Result(consumed + data.Consumed, consumed, data.PayloadLength, false);
                }
                case State.ChunkData:
                {
                    if (span.IsEmpty) return default;
                    int n = (int)Math.Min(span.Length, Remaining);
                    Remaining -= n;
                    Total += n;
                    if (Remaining > 0) return new Result(n, 0, n, false);
                    State = State.ChunkDataEnd;
                    var crlf = Step(span[n..]);
                    return new Result(n + crlf.Consumed, 0, n, false);
                }
                case State.ChunkDataEnd:
                {
                    if (span.Length < 2) return default;
                    if (span[0] != '\r' || span[1] != '\n') HttpHeadParser.Reject(HttpRejection.InvalidChunk, "chunk data is not followed by CRLF");
                    State = State.ChunkSize;
                    return new Result(2, 0, 0, false);
                }
                case State.Trailers:
                {
                    int pos = 0;
                    while (true)
                    {
                        int lf = span[pos..].IndexOf((byte)'\n');
                        if (lf < 0)
                        {
                            if (span.Length > maxTrailers) HttpHeadParser.Reject(HttpRejection.HeadersTooLarge, $"the trailer section exceeds {maxTrailers} bytes");
                            return default;
                        }
                        lf += pos;
                        CheckCrlf(span, lf, HttpRejection.InvalidChunk);
                        if (lf + 1 > maxTrailers) HttpHeadParser.Reject(HttpRejection.HeadersTooLarge, $"the trailer section exceeds {maxTrailers} bytes");
                        if (lf == pos + 1) return new Result(lf + 1, 0, 0, true);
                        // Trailers are validated like header fields, then ignored: nothing downstream trusts them.
                        HttpHeadParser.ValidateField(span[pos..(lf - 1)]);
                        pos = lf + 1;
                    }
                }
                default:
                    return default;
            }
        }

        /// <summary>chunk-size [ chunk-ext ]: 1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ).</summary>
        private static long ParseChunkLine(ReadOnlySpan<byte> line)
        {
            int i = 0;
            long size = 0;
            while (i < line.Length && char.IsAsciiHexDigit((char)line[i]))
            {
                if (i >= 15) HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk size overflows");
                size = size * 16 + HexValue(line[i]);
                i++;
            }
            if (i == 0) HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk size is not hexadecimal");
            while (i < line.Length)
            {
                i = SkipBws(line, i);
                if (i >= line.Length || line[i] != ';') HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk extension does not start with ';'");
                i = SkipBws(line, i + 1);
                int name = i;
                while (i < line.Length && HttpHeadParser.IsToken(line[i])) i++;
                if (i == name) HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk extension without a name");
                i = SkipBws(line, i);
                if (i < line.Length && line[i] == '=')
                {
                    i = SkipBws(line, i + 1);
                    if (i < line.Length && line[i] == '"') i = SkipQuoted(line, i);
                    else
                    {
                        int value = i;
                        while (i < line.Length && HttpHeadParser.IsToken(line[i])) i++;
                        if (i == value) HttpHeadParser.Reject(HttpRejection.InvalidChunk, "a chunk extension with an empty value");
                    }
                }
                // The loop's start requires the next ';' (after optional whitespace) or the end of the line.
            }
            return size;
        }

        private static int SkipBws(ReadOnlySpan<byte> s, int i)
        {
            while (i < s.Length && s[i] is (byte)' ' or (byte)'\t') i++;
            return i;
        }

        private static int SkipQuoted(ReadOnlySpan<byte> s, int i)
        {
            // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
            for (i++; i < s.Length; i++)
            {
                byte b = s[i];
                if (b == '"') return i + 1;
                if (b == '\\') { i++; if (i >= s.Length || (s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7F) break; continue; }
                if ((b < 0x20 && b != '\t') || b == 0x7F) break;
            }
            HttpHeadParser.Reject(HttpRejection.InvalidChunk, "an unterminated or invalid quoted chunk extension");
            return 0;
        }

        private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
    }
}
