namespace Asio2.Rx.Tests.Http;

/// <summary>
/// Malformed and smuggling requests over raw sockets (RFC 9112, Kestrel's rules, CVE-2025-55315's bare-LF class):
/// each gets its status, a closed connection, and never reaches the application.
/// </summary>
public sealed class HttpMalformedCorpusTests
{
    private const string H = "Host: a\r\n";

    public static TheoryData<string, string, int> Corpus()
    {
        var big = new string('a', 9000);
        var manyHeaders = string.Concat(Enumerable.Range(0, 101).Select(i => $"X-{i}: v\r\n"));
        var hugeHeaders = string.Concat(Enumerable.Range(0, 40).Select(i => $"X-{i}: {new string('v', 1000)}\r\n"));
        return new TheoryData<string, string, int>
        {
            // Request line
            { "bare LF ends the request line", "GET / HTTP/1.1\n" + H + "\r\n", 400 },
            { "bare LF before the request line", "\nGET / HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "bare CR in the request line", "GET / HTTP/1.1\rX\r\n" + H + "\r\n", 400 },
            { "CR CR LF", "GET / HTTP/1.1\r\r\n" + H + "\r\n", 400 },
            { "two spaces after the method", "GET  / HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "trailing space after the version", "GET / HTTP/1.1 \r\n" + H + "\r\n", 400 },
            { "tab as separator", "GET /\tHTTP/1.1\r\n" + H + "\r\n", 400 },
            { "leading space", " GET / HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "method not a token", "G(T / HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "no version", "GET /\r\n" + H + "\r\n", 400 },
            { "lowercase protocol", "GET / http/1.1\r\n" + H + "\r\n", 400 },
            { "version without minor", "GET / HTTP/1\r\n" + H + "\r\n", 400 },
            { "two-digit minor version", "GET / HTTP/1.10\r\n" + H + "\r\n", 400 },
            { "HTTP/2.0 on the HTTP/1 wire", "GET / HTTP/2.0\r\n" + H + "\r\n", 505 },
            { "HTTP/0.9 version", "GET / HTTP/0.9\r\n" + H + "\r\n", 505 },
            { "HTTP/3.1 version", "GET / HTTP/3.1\r\n" + H + "\r\n", 505 },
            { "absolute-form target", "GET http://a/ HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "authority-form target", "CONNECT a:443 HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "asterisk target for GET", "GET * HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "space inside the target", "GET /a b HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "invalid percent-escape", "GET /a%zz HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "truncated percent-escape", "GET /a%2 HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "control character in the target", "GET /\u0001 HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "DEL in the target", "GET /\u007f HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "NUL in the target", "GET /\0 HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "raw non-ASCII in the target", "GET /\u00e9 HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "fragment in the target", "GET /#f HTTP/1.1\r\n" + H + "\r\n", 400 },
            { "request line over 8 KiB", "GET /" + big + " HTTP/1.1\r\n" + H + "\r\n", 414 },
            { "endless request line", "GET /" + big, 414 },
            // Header fields
            { "bare LF ends a header line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400 },
            { "bare LF ends the header section", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400 },
            { "obs-fold", "GET / HTTP/1.1\r\n" + H + "X: a\r\n b\r\n\r\n", 400 },
            { "space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },
            { "tab before the colon", "GET / HTTP/1.1\r\n" + H + "X\t: a\r\n\r\n", 400 },
            { "header line without a colon", "GET / HTTP/1.1\r\n" + H + "X a\r\n\r\n", 400 },
            { "empty header name", "GET / HTTP/1.1\r\n" + H + ": a\r\n\r\n", 400 },
            { "NUL in a header value", "GET / HTTP/1.1\r\n" + H + "X: a\0b\r\n\r\n", 400 },
            { "bare CR in a header value", "GET / HTTP/1.1\r\n" + H + "X: a\rb\r\n\r\n", 400 },
            { "control character in a header value", "GET / HTTP/1.1\r\n" + H + "X: a\u0001b\r\n\r\n", 400 },
            { "DEL in a header value", "GET / HTTP/1.1\r\n" + H + "X: a\u007fb\r\n\r\n", 400 },
            { "header name not a token", "GET / HTTP/1.1\r\n" + H + "X(a): b\r\n\r\n", 400 },
            { "non-ASCII header name", "GET / HTTP/1.1\r\n" + H + "X\u00e9: b\r\n\r\n", 400 },
            { "HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400 },
            { "two Host fields", "GET / HTTP/1.1\r\n" + H + "Host: b\r\n\r\n", 400 },
            { "two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\n" + H + "Host: b\r\n\r\n", 400 },
            { "Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400 },
            { "Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400 },
            { "Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400 },
            { "more than 100 header fields", "GET / HTTP/1.1\r\n" + H + manyHeaders + "\r\n", 431 },
            { "header section over 32 KiB", "GET / HTTP/1.1\r\n" + H + hugeHeaders + "\r\n", 431 },
            { "unsupported expectation", "POST / HTTP/1.1\r\n" + H + "Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417 },
            // Content-Length
            { "Content-Length not a number", "POST / HTTP/1.1\r\n" + H + "Content-Length: abc\r\n\r\n", 400 },
            { "negative Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n", 400 },
            { "Content-Length with a plus sign", "POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello", 400 },
            { "Content-Length in hex", "POST / HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\nhello", 400 },
            { "empty Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: \r\n\r\n", 400 },
            { "Content-Length with inner space", "POST / HTTP/1.1\r\n" + H + "Content-Length: 1 1\r\n\r\nhello", 400 },
            { "comma-listed differing Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 6\r\n\r\nhello!", 400 },
            { "repeated differing Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400 },
            { "overflowing Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999\r\n\r\n", 400 },
            { "Content-Length over the body limit", "POST / HTTP/1.1\r\n" + H + "Content-Length: 30000001\r\n\r\n", 413 },
            // Transfer-Encoding
            { "Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
            { "Content-Length after Transfer-Encoding", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400 },
            { "final coding not chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", 400 },
            { "chunked before another coding", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400 },
            { "chunked twice", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400 },
            { "chunked twice in two fields", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
            { "identity coding", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\n", 400 },
            { "a lookalike of chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400 },
            { "chunked with a parameter", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400 },
            { "unsupported coding before chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501 },
            { "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
            // Chunked body
            { "chunk size not hexadecimal", Chunked("zz\r\nhello\r\n0\r\n\r\n"), 400 },
            { "chunk size overflows", Chunked("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400 },
            { "negative chunk size", Chunked("-5\r\nhello\r\n0\r\n\r\n"), 400 },
            { "chunk size with a 0x prefix", Chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400 },
            { "space before the chunk size", Chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400 },
            { "space after the chunk size", Chunked("5 \r\nhello\r\n0\r\n\r\n"), 400 },
            { "bare LF after the chunk size", Chunked("5\nhello\r\n0\r\n\r\n"), 400 },
            { "bare LF in a chunk extension (CVE-2025-55315)", Chunked("5;a\nhello\r\n0\r\n\r\n"), 400 },
            { "bare LF ends a chunk extension value", Chunked("5;a=b\nhello\r\n0\r\n\r\n"), 400 },
            { "bare CR in a chunk extension", Chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"), 400 },
            { "chunk extension without a name", Chunked("5;=x\r\nhello\r\n0\r\n\r\n"), 400 },
            { "unterminated quoted chunk extension", Chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"), 400 },
            { "chunk data longer than its size", Chunked("5\r\nhelloX\r\n0\r\n\r\n"), 400 },
            { "bare LF after chunk data", Chunked("5\r\nhello\n0\r\n\r\n"), 400 },
            { "bare LF after the last chunk", Chunked("0\n\r\n"), 400 },
            { "bare LF in a trailer", Chunked("0\r\nX: a\n\r\n"), 400 },
            { "obs-fold in a trailer", Chunked("0\r\nX: a\r\n b\r\n\r\n"), 400 },
            { "chunk over the body limit", Chunked("1C9C381\r\n"), 413 },
        };
    }

    private static string Chunked(string body) => "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n" + body;

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task MalformedRequest_GetsItsStatus_IsClosed_AndNeverReachesTheApplication(string name, string request, int status)
    {
        await using var server = new TestHttpServer();
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, request);
        Assert.True(closed, name);
        var response = Assert.Single(responses);
        Assert.Equal(status, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal(0, server.Calls);
    }

    [Fact]
    public void Corpus_HasAtLeastSixtyCases() => Assert.True(Corpus().Count() >= 60);

    [Fact]
    public async Task SmuggledRequest_BehindAmbiguousLength_IsNeverParsed()
    {
        // A lenient parser honouring Transfer-Encoding would see a second request, GET /admin, after "0\r\n\r\n".
        var seen = new List<string>();
        await using var server = new TestHttpServer(routes: s => s.Map("GET,POST", "*", ctx => { lock (seen) seen.Add(ctx.Request.Path); return "ok"; }));
        var request = "GET /first HTTP/1.1\r\n" + H + "\r\n"
            + "POST /second HTTP/1.1\r\n" + H + "Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "0\r\n\r\nGET /admin HTTP/1.1\r\n" + H + "\r\n";
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, request);
        Assert.True(closed);
        Assert.Equal([200, 400], responses.Select(r => r.Status));
        Assert.Equal(["/first"], seen);
        Assert.Equal(1, server.Calls);
    }

    [Fact]
    public async Task SmuggledRequest_InABareLfChunkExtension_IsNeverParsed()
    {
        // CVE-2025-55315: a front end that ends the extension at CRLF reads "2;\nxx\r\n..." differently from one that
        // accepts the lone LF; the hidden request must never be seen.
        var seen = new List<string>();
        await using var server = new TestHttpServer(routes: s => s.Map("GET,POST", "*", ctx => { lock (seen) seen.Add(ctx.Request.Path); return "ok"; }));
        var request = "GET /first HTTP/1.1\r\n" + H + "\r\n"
            + "POST /second HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
            + "2;\nxx\r\n45\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n" + H + "\r\n0\r\n\r\n";
        var (responses, closed) = await HttpKit.Exchange(server.EndPoint, request);
        Assert.True(closed);
        Assert.Equal([200, 400], responses.Select(r => r.Status));
        Assert.Equal(["/first"], seen);
    }
}
