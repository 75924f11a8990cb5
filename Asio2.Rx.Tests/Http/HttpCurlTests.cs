using System.Reactive.Linq;
using System.Security.Cryptography;
using Asio2.Rx.Tests.Secure;

namespace Asio2.Rx.Tests.Http;

/// <summary>curl, a client nobody here wrote, against the server: keep-alive, chunked upload, ranges, HTTP/1.0,
/// 100-continue with a large body, HTTPS.</summary>
public sealed class HttpCurlTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("asio2rx-http-");
    private readonly byte[] _data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);

    public HttpCurlTests() => File.WriteAllBytes(Path.Combine(_root.FullName, "data.bin"), _data);

    public void Dispose() => _root.Delete(recursive: true);

    private TestHttpServer NewServer(Action<HttpServerOptions>? configure = null) => new(configure, s =>
    {
        s.Map("GET", "/hello", _ => "hello");
        s.Map("POST,PUT", "/sha256", async ctx =>
        {
            using var sha = SHA256.Create();
            var body = ctx.Request.Body.AsStream();
            var hash = await sha.ComputeHashAsync(body);
            return $"{Convert.ToHexString(hash)} {ctx.Request.ContentLength?.ToString() ?? "chunked"}";
        });
        s.Map("GET", "/version", ctx => ctx.Request.Version.ToString());
        s.MapFiles("/files", _root.FullName);
    });

    private static Task<PeerProcess.Result> Curl(params string[] args) => PeerProcess.Run("curl", ["-sS", "--max-time", "30", .. args]);

    [PeerFact("curl")]
    public async Task KeepAlive_CurlReusesOneConnection_ForSeveralRequests()
    {
        await using var server = NewServer();
        int sessions = 0;
        server.Server.Sessions.Subscribe(_ => Interlocked.Increment(ref sessions));
        var r = await Curl("-v", server.Url + "/hello", server.Url + "/hello", server.Url + "/hello");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("hellohellohello", r.Text);
        Assert.Contains("existing connection", r.Stderr); // "Re-using existing connection #0"
        Assert.Equal(1, sessions);
    }

    [PeerFact("curl")]
    public async Task ChunkedUpload_ArrivesWhole()
    {
        await using var server = NewServer();
        var file = Path.Combine(_root.FullName, "data.bin");
        var r = await Curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file, server.Url + "/sha256");
        Assert.Equal($"{Convert.ToHexString(SHA256.HashData(_data))} chunked", r.Text);
    }

    [PeerFact("curl")]
    public async Task Range_ReturnsTheAskedBytes()
    {
        await using var server = NewServer();
        var r = await Curl("--range", "1000-1999", server.Url + "/files/data.bin");
        Assert.Equal(_data[1000..2000], r.Stdout);
    }

    [PeerFact("curl")]
    public async Task Http10_IsSpokenBack()
    {
        await using var server = NewServer();
        var r = await Curl("-0", "-i", server.Url + "/version");
        Assert.StartsWith("HTTP/1.0 200 OK", r.Text);
        Assert.EndsWith("1.0", r.Text);
    }

    [PeerFact("curl")]
    public async Task ExpectContinue_WithALargeBody_IsUploadedAfter100()
    {
        await using var server = NewServer();
        var file = Path.Combine(_root.FullName, "data.bin");
        var r = await Curl("-v", "--http1.1", "-H", "Expect: 100-continue", "--data-binary", "@" + file, server.Url + "/sha256");
        Assert.Contains("HTTP/1.1 100 Continue", r.Stderr);
        Assert.Equal($"{Convert.ToHexString(SHA256.HashData(_data))} {_data.Length}", r.Text);
    }

    [PeerFact("curl")]
    public async Task Https_WithTheCaCertificate_ServesTheSameRoutes()
    {
        await using var server = NewServer(o => o.Tls = TlsKit.ServerOptions());
        var ca = TlsKit.Pki.Write("http-curl-root.pem", TlsKit.Pki.RootPem);
        var r = await Curl("--cacert", ca, "-v", $"https://localhost:{server.Port}/hello", $"https://localhost:{server.Port}/files/data.bin", "-o", "/dev/null", "-o", Path.Combine(_root.FullName, "copy.bin"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("ALPN: server accepted http/1.1", r.Stderr);
        Assert.Equal(_data, File.ReadAllBytes(Path.Combine(_root.FullName, "copy.bin")));
    }
}
