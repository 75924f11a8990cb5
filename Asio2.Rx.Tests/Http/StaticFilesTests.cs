using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Asio2.Rx.Tests.Http;

/// <summary>The static file handler: MIME types, index.html, traversal refused, ranges, validators, HEAD, large files.</summary>
public sealed class StaticFilesTests : IAsyncLifetime
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("asio2rx-static-");
    private readonly byte[] _data = RandomNumberGenerator.GetBytes(100_000);
    private readonly System.Net.Http.HttpClient _client = new();
    private string _root = "";
    private TestHttpServer _server = null!;

    public Task InitializeAsync()
    {
        _root = Path.Combine(_dir.FullName, "site");
        Directory.CreateDirectory(Path.Combine(_root, "docs"));
        File.WriteAllText(Path.Combine(_root, "index.html"), "<h1>home</h1>");
        File.WriteAllText(Path.Combine(_root, "docs", "index.html"), "<h1>docs</h1>");
        File.WriteAllText(Path.Combine(_root, "app.js"), "console.log(1)");
        File.WriteAllText(Path.Combine(_root, "a b.txt"), "spaced");
        File.WriteAllBytes(Path.Combine(_root, "data.bin"), _data);
        File.WriteAllText(Path.Combine(_dir.FullName, "secret.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(_root, "escape.txt"), Path.Combine(_dir.FullName, "secret.txt"));
        File.CreateSymbolicLink(Path.Combine(_root, "inside.txt"), Path.Combine(_root, "app.js"));
        _server = new TestHttpServer(routes: s => s.MapFiles("/", _root));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _client.Dispose();
        _dir.Delete(recursive: true);
    }

    private Task<HttpResponseMessage> Get(string path, Action<HttpRequestMessage>? configure = null, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Get, _server.Url + path);
        configure?.Invoke(request);
        return _client.SendAsync(request).WaitAsync(Wait.Long);
    }

    [Theory]
    [InlineData("/index.html", "text/html")]
    [InlineData("/app.js", "text/javascript")]
    [InlineData("/data.bin", "application/octet-stream")]
    [InlineData("/a%20b.txt", "text/plain")]
    public async Task Files_AreServedWithTheirMimeType(string path, string mediaType)
    {
        var r = await Get(path);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(mediaType, r.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Directories_ServeIndexHtml_AndRedirectWithoutTheSlash()
    {
        Assert.Equal("<h1>home</h1>", await (await Get("/")).Content.ReadAsStringAsync());
        Assert.Equal("<h1>docs</h1>", await (await Get("/docs/")).Content.ReadAsStringAsync());
        using var noRedirect = new System.Net.Http.HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        var r = await noRedirect.GetAsync(_server.Url + "/docs");
        Assert.Equal(HttpStatusCode.MovedPermanently, r.StatusCode);
        Assert.Equal("/docs/", r.Headers.Location!.OriginalString);
    }

    [Theory]
    [InlineData("GET /../secret.txt HTTP/1.1", 403)]
    [InlineData("GET /%2e%2e/secret.txt HTTP/1.1", 403)]
    [InlineData("GET /docs/%2E%2E/%2e%2e/secret.txt HTTP/1.1", 403)]
    [InlineData("GET /..%2fsecret.txt HTTP/1.1", 403)]
    [InlineData("GET /..%5csecret.txt HTTP/1.1", 403)]
    [InlineData("GET /C:%5csecret.txt HTTP/1.1", 403)]
    [InlineData("GET /escape.txt HTTP/1.1", 403)]
    [InlineData("GET /%2fetc%2fpasswd HTTP/1.1", 404)] // an absolute path stays relative to the root
    public async Task PathsLeavingTheRoot_AreRefused(string requestLine, int status)
    {
        var (responses, _) = await HttpKit.Exchange(_server.EndPoint, requestLine + "\r\nHost: a\r\nConnection: close\r\n\r\n");
        var r = Assert.Single(responses);
        Assert.Equal(status, r.Status);
        Assert.Empty(r.Body);
    }

    [Fact]
    public async Task SymlinkInsideTheRoot_IsServed_AndMissingFiles_Are404()
    {
        Assert.Equal("console.log(1)", await (await Get("/inside.txt")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await Get("/nope.txt")).StatusCode);
    }

    [Fact]
    public async Task SingleRange_Is206WithContentRange()
    {
        var r = await Get("/data.bin", m => m.Headers.Range = new RangeHeaderValue(100, 199));
        Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
        Assert.Equal("bytes 100-199/100000", r.Content.Headers.ContentRange!.ToString());
        Assert.Equal(_data[100..200], await r.Content.ReadAsByteArrayAsync());
        var suffix = await Get("/data.bin", m => m.Headers.TryAddWithoutValidation("Range", "bytes=-10"));
        Assert.Equal(_data[^10..], await suffix.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task MultipleRanges_Are206Multipart()
    {
        var r = await Get("/data.bin", m => m.Headers.TryAddWithoutValidation("Range", "bytes=0-9,50-59"));
        Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
        Assert.Equal("multipart/byteranges", r.Content.Headers.ContentType!.MediaType);
        var body = await r.Content.ReadAsByteArrayAsync();
        Assert.Equal(r.Content.Headers.ContentLength, body.Length);
        var text = System.Text.Encoding.Latin1.GetString(body);
        Assert.Contains("Content-Range: bytes 0-9/100000", text);
        Assert.Contains("Content-Range: bytes 50-59/100000", text);
        Assert.Contains(System.Text.Encoding.Latin1.GetString(_data[50..60]), text);
        Assert.EndsWith("--\r\n", text);
    }

    [Fact]
    public async Task UnsatisfiableRange_Is416()
    {
        var r = await Get("/data.bin", m => m.Headers.TryAddWithoutValidation("Range", "bytes=200000-"));
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, r.StatusCode);
        Assert.Equal("bytes */100000", r.Content.Headers.ContentRange!.ToString());
    }

    [Fact]
    public async Task ETagAndLastModified_AnswerConditionalRequestsWith304()
    {
        var first = await Get("/app.js");
        var etag = first.Headers.ETag!;
        var modified = first.Content.Headers.LastModified!.Value;
        Assert.Equal(HttpStatusCode.NotModified, (await Get("/app.js", m => m.Headers.IfNoneMatch.Add(etag))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/app.js", m => m.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"other\"")))).StatusCode);
        Assert.Equal(HttpStatusCode.NotModified, (await Get("/app.js", m => m.Headers.IfModifiedSince = modified)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/app.js", m => m.Headers.IfModifiedSince = modified.AddSeconds(-1))).StatusCode);
    }

    [Fact]
    public async Task Head_HasTheLengthAndValidators_WithoutABody()
    {
        var r = await Get("/data.bin", method: HttpMethod.Head);
        Assert.Equal(100_000, r.Content.Headers.ContentLength);
        Assert.NotNull(r.Headers.ETag);
        Assert.Empty(await r.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task LargeFile_IsStreamedWhole()
    {
        var big = Path.Combine(_root, "big.bin");
        var data = RandomNumberGenerator.GetBytes(24 * 1024 * 1024 + 5);
        await File.WriteAllBytesAsync(big, data);
        var r = await Get("/big.bin");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await r.Content.ReadAsByteArrayAsync()));
    }
}
