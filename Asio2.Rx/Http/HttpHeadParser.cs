using System.Text;

namespace Asio2.Rx;

/// <summary>A parsed, validated request head: what the framing needs to find the body, and what the request exposes.</summary>
internal sealed class HttpRequestHead
{
    public required string Method { get; init; }
    public required string Target { get; init; }
    public required int Version { get; init; } // 10 or 11
    public required HttpHeaders Headers { get; init; }
    public long ContentLength { get; init; }
    public bool Chunked { get; init; }
    public bool KeepAlive { get; init; }
    public bool ExpectContinue { get; init; }
    /// <summary>The <c>Upgrade</c> protocols when the request asks to switch (Connection: upgrade), else null.</summary>
    public string? Upgrade { get; init; }
    public bool HasBody => Chunked || ContentLength > 0;
}

/// <summary>
/// Parses one complete request head (request line, header fields, final CRLF) strictly by RFC 9112: anything a lenient
/// parser might read differently from a proxy in front of it is refused, because that difference is what request
/// smuggling exploits. Pure and synchronous; errors are <see cref="HttpRejectedException"/>.
/// </summary>
internal static class HttpHeadParser
{
    // tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~" DIGIT ALPHA.
    private static readonly bool[] s_token = BuildToken();

    private static bool[] BuildToken()
    {
        var t = new bool[256];
        for (int c = '0'; c <= '9'; c++) t[c] = true;
        for (int c = 'a'; c <= 'z'; c++) t[c] = true;
        for (int c = 'A'; c <= 'Z'; c++) t[c] = true;
        foreach (char c in "!#$%&'*+-.^_`|~") t[c] = true;
        return t;
    }

    public static bool IsToken(byte b) => s_token[b];

    public static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty) return false;
        foreach (var b in s) if (!s_token[b]) return false;
        return true;
    }

    /// <summary>Parses <paramref name="head"/>: the request line and header lines, each ending in CRLF (already
    /// checked by the framing), without the final empty line; <paramref name="headerCount"/> is the number of header
    /// lines the framing counted (the list's capacity); <paramref name="strings"/> the connection's reusable strings.</summary>
    public static HttpRequestHead Parse(ReadOnlySpan<byte> head, int headerCount, HttpStrings? strings = null)
    {
        int eol = head.IndexOf((byte)'\n');
        var line = head[..(eol - 1)];
        ParseRequestLine(line, strings, out var method, out var target, out int version);
        head = head[(eol + 1)..];

        var headers = new HttpHeaders(headerCount);
        long contentLength = -1;
        int hosts = 0;
        bool chunked = false, sawTransferEncoding = false, unsupportedCoding = false, close = false, keepAliveToken = false;
        bool upgradeToken = false, expectContinue = false;
        string? upgrade = null, host = null;
        while (!head.IsEmpty)
        {
            eol = head.IndexOf((byte)'\n');
            line = head[..(eol - 1)];
            head = head[(eol + 1)..];
            SplitField(line, out var nameBytes, out var valueBytes);
            int index = headers.Count;
            string name = KnownHeader(nameBytes) ?? (strings is null ? Encoding.ASCII.GetString(nameBytes) : strings.Name(index, nameBytes));
            string value = strings is null ? Encoding.Latin1.GetString(valueBytes) : strings.Value(index, valueBytes);
            headers.AddParsed(name, value);
            switch (name.Length)
            {
                case 4 when name.Equals("Host", StringComparison.OrdinalIgnoreCase):
                    hosts++;
                    host = value;
                    break;
                case 14 when name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase):
                    contentLength = ParseContentLength(value, contentLength);
                    break;
                case 17 when name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase):
                    sawTransferEncoding = true;
                    foreach (var raw in value.Split(','))
                    {
                        var coding = raw.Trim(' ', '\t');
                        if (coding.Length == 0) continue; // empty list elements are allowed (RFC 9110 §5.6.1)
                        if (chunked) Reject(HttpRejection.InvalidTransferEncoding, "chunked must be the final transfer coding, once");
                        if (coding.Equals("chunked", StringComparison.OrdinalIgnoreCase)) chunked = true;
                        else if (IsToken(Encoding.Latin1.GetBytes(coding))) unsupportedCoding = true;
                        else Reject(HttpRejection.InvalidTransferEncoding, "a transfer coding is not a token");
                    }
                    break;
                case 10 when name.Equals("Connection", StringComparison.OrdinalIgnoreCase):
                    foreach (var range in value.AsSpan().Split(','))
                    {
                        var option = value.AsSpan()[range].Trim(" \t");
                        if (option.Equals("close", StringComparison.OrdinalIgnoreCase)) close = true;
                        else if (option.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)) keepAliveToken = true;
                        else if (option.Equals("upgrade", StringComparison.OrdinalIgnoreCase)) upgradeToken = true;
                    }
                    break;
                case 6 when name.Equals("Expect", StringComparison.OrdinalIgnoreCase):
                    if (version == 11)
                    {
                        if (!value.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
                            Reject(HttpRejection.UnsupportedExpectation, "only Expect: 100-continue is supported");
                        expectContinue = true;
                    }
                    break;
                case 7 when name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase):
                    upgrade = value;
                    break;
            }
        }

        if (version == 11 && hosts != 1) Reject(HttpRejection.InvalidHost, hosts == 0 ? "an HTTP/1.1 request needs a Host" : "more than one Host");
        if (hosts > 1) Reject(HttpRejection.InvalidHost, "more than one Host");
        if (host is not null && !IsValidHost(host)) Reject(HttpRejection.InvalidHost, "the Host is not a valid authority");
        if (sawTransferEncoding)
        {
            // RFC 9112 §6.1: TE with CL is refused (never "TE wins"); TE in HTTP/1.0 is faulty framing.
            if (contentLength >= 0) Reject(HttpRejection.ConflictingLength, "both Transfer-Encoding and Content-Length");
            if (version == 10) Reject(HttpRejection.InvalidTransferEncoding, "Transfer-Encoding in an HTTP/1.0 request");
            if (!chunked) Reject(HttpRejection.InvalidTransferEncoding, "the final transfer coding is not chunked");
            if (unsupportedCoding) Reject(HttpRejection.UnsupportedTransferEncoding, "only the chunked transfer coding is supported");
        }
        bool hasBody = chunked || contentLength > 0;
        return new HttpRequestHead
        {
            Method = method,
            Target = target,
            Version = version,
            Headers = headers,
            ContentLength = Math.Max(contentLength, 0),
            Chunked = chunked,
            KeepAlive = version == 11 ? !close : keepAliveToken && !close,
            ExpectContinue = expectContinue && hasBody,
            Upgrade = upgradeToken && upgrade is not null && !hasBody ? upgrade : null,
        };
    }

    private static void ParseRequestLine(ReadOnlySpan<byte> line, HttpStrings? strings, out string method, out string target, out int version)
    {
        int sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0 || !IsToken(line[..sp1])) Reject(HttpRejection.InvalidRequestLine, "the method is not a token");
        var rest = line[(sp1 + 1)..];
        int sp2 = rest.IndexOf((byte)' ');
        if (sp2 <= 0) Reject(HttpRejection.InvalidRequestLine, "the request line needs a target and a version, one space apart");
        var targetBytes = rest[..sp2];
        var versionBytes = rest[(sp2 + 1)..];
        version = ParseVersion(versionBytes);
        method = KnownMethod(line[..sp1]) ?? Encoding.ASCII.GetString(line[..sp1]);
        ValidateTarget(targetBytes, method);
        target = strings is null ? Encoding.ASCII.GetString(targetBytes) : strings.Target(targetBytes);
    }

    private static string? KnownMethod(ReadOnlySpan<byte> m) => m.Length switch
    {
        3 when m.SequenceEqual("GET"u8) => "GET",
        3 when m.SequenceEqual("PUT"u8) => "PUT",
        4 when m.SequenceEqual("POST"u8) => "POST",
        4 when m.SequenceEqual("HEAD"u8) => "HEAD",
        5 when m.SequenceEqual("PATCH"u8) => "PATCH",
        6 when m.SequenceEqual("DELETE"u8) => "DELETE",
        7 when m.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        _ => null,
    };

    private static int ParseVersion(ReadOnlySpan<byte> v)
    {
        if (v.SequenceEqual("HTTP/1.1"u8)) return 11;
        if (v.SequenceEqual("HTTP/1.0"u8)) return 10;
        if (v.Length == 8 && v.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)v[5]) && v[6] == '.' && char.IsAsciiDigit((char)v[7]))
            Reject(HttpRejection.UnsupportedVersion, "only HTTP/1.0 and HTTP/1.1 are supported");
        Reject(HttpRejection.InvalidRequestLine, "the version is not HTTP/d.d");
        return 0;
    }

    private static void ValidateTarget(ReadOnlySpan<byte> t, string method)
    {
        if (t.Length == 1 && t[0] == '*')
        {
            if (method != "OPTIONS") Reject(HttpRejection.InvalidRequestTarget, "the asterisk-form is for OPTIONS only");
            return;
        }
        // Origin-form only: this is an origin server, and absolute- or authority-form targets are how requests meant
        // for a proxy (or crafted to disagree with Host) arrive.
        if (t[0] != '/') Reject(HttpRejection.InvalidRequestTarget, "the target is not an origin-form path");
        for (int i = 0; i < t.Length; i++)
        {
            byte b = t[i];
            if (b <= 0x20 || b >= 0x7F || b == '#') Reject(HttpRejection.InvalidRequestTarget, "the target has a character that must be escaped");
            if (b == '%' && (i + 2 >= t.Length || !char.IsAsciiHexDigit((char)t[i + 1]) || !char.IsAsciiHexDigit((char)t[i + 2])))
                Reject(HttpRejection.InvalidRequestTarget, "the target has an invalid percent-escape");
        }
    }

    private static void SplitField(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (line.IsEmpty) Reject(HttpRejection.InvalidHeader, "an empty header line");
        if (line[0] is (byte)' ' or (byte)'\t') Reject(HttpRejection.InvalidHeader, "obs-fold (a line starting with whitespace)");
        int colon = line.IndexOf((byte)':');
        if (colon < 0) Reject(HttpRejection.InvalidHeader, "a header line without a colon");
        name = line[..colon];
        if (!IsToken(name)) Reject(HttpRejection.InvalidHeader, "a header name that is not a token (or whitespace before the colon)");
        value = line[(colon + 1)..];
        int start = 0, end = value.Length;
        while (start < end && value[start] is (byte)' ' or (byte)'\t') start++;
        while (end > start && value[end - 1] is (byte)' ' or (byte)'\t') end--;
        value = value[start..end];
        foreach (var b in value)
            if ((b < 0x20 && b != '\t') || b == 0x7F) Reject(HttpRejection.InvalidHeader, "a control character in a header value");
    }

    /// <summary>Validates a trailer line in a chunked body (same syntax as a header field); the trailer is then ignored.</summary>
    public static void ValidateField(ReadOnlySpan<byte> line) => SplitField(line, out _, out _);

    private static string? KnownHeader(ReadOnlySpan<byte> n) => n.Length switch
    {
        4 when Ascii.EqualsIgnoreCase(n, "Host"u8) => "Host",
        6 when Ascii.EqualsIgnoreCase(n, "Accept"u8) => "Accept",
        10 when Ascii.EqualsIgnoreCase(n, "Connection"u8) => "Connection",
        10 when Ascii.EqualsIgnoreCase(n, "User-Agent"u8) => "User-Agent",
        12 when Ascii.EqualsIgnoreCase(n, "Content-Type"u8) => "Content-Type",
        14 when Ascii.EqualsIgnoreCase(n, "Content-Length"u8) => "Content-Length",
        15 when Ascii.EqualsIgnoreCase(n, "Accept-Encoding"u8) => "Accept-Encoding",
        15 when Ascii.EqualsIgnoreCase(n, "Accept-Language"u8) => "Accept-Language",
        17 when Ascii.EqualsIgnoreCase(n, "Transfer-Encoding"u8) => "Transfer-Encoding",
        _ => null,
    };

    private static long ParseContentLength(string value, long previous)
    {
        long result = previous;
        foreach (var raw in value.Split(','))
        {
            var item = raw.Trim(' ', '\t');
            if (item.Length == 0 || item.Length > 18 || !item.All(char.IsAsciiDigit))
                Reject(HttpRejection.InvalidContentLength, "Content-Length is not a decimal number of at most 18 digits");
            long n = long.Parse(item, System.Globalization.CultureInfo.InvariantCulture);
            if (result >= 0 && result != n) Reject(HttpRejection.InvalidContentLength, "Content-Length values differ");
            result = n;
        }
        if (result < 0) Reject(HttpRejection.InvalidContentLength, "an empty Content-Length");
        return result;
    }

    private static bool IsValidHost(string host)
    {
        // uri-host [":" port] (RFC 3986 reg-name / IPv4 / IP-literal); anything else (userinfo, paths, spaces) is refused.
        foreach (char c in host)
        {
            if (char.IsAsciiLetterOrDigit(c)) continue;
            if ("-._~!$&'()*+,;=:[]%".Contains(c)) continue;
            return false;
        }
        return true;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Reject(HttpRejection reason, string message) => throw new HttpRejectedException(reason, message);
}

/// <summary>
/// One connection's strings from its previous request head (target, header names and values by position), reused when
/// the same bytes come again: clients repeat most of their headers on every request, so a keep-alive connection then
/// parses a head without making new strings (Kestrel reuses header strings on a connection the same way).
/// </summary>
internal sealed class HttpStrings
{
    private const int Fields = 16;
    private readonly string?[] _names = new string?[Fields];
    private readonly string?[] _values = new string?[Fields];
    private string? _target;

    public string Target(ReadOnlySpan<byte> bytes) => Reuse(ref _target, bytes);

    public string Name(int index, ReadOnlySpan<byte> bytes) => index < Fields ? Reuse(ref _names[index], bytes) : Encoding.Latin1.GetString(bytes);

    public string Value(int index, ReadOnlySpan<byte> bytes) => index < Fields ? Reuse(ref _values[index], bytes) : Encoding.Latin1.GetString(bytes);

    // Ascii.Equals is false for any byte above 0x7F, so Latin-1 text is decoded anew rather than matched wrongly.
    private static string Reuse(ref string? slot, ReadOnlySpan<byte> bytes) =>
        slot is { } s && Ascii.Equals(bytes, s) ? s : slot = Encoding.Latin1.GetString(bytes);
}
