using System.Security.Cryptography;

namespace Asio2.Rx.Tests.Http;

/// <summary>A file as a handler's answer, outside <c>MapFiles</c>: returned as a <see cref="FileInfo"/> or sent with
/// <see cref="HttpResponse.SendFile"/>; MIME type by extension, ranges honoured, a missing file 404.</summary>
public sealed class HttpSendFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("asio2rx-sendfile-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task FileInfoResult_AndSendFile_StreamTheFile_WithItsTypeAndRanges_AndAMissingFileIs404()
    {
        var data = RandomNumberGenerator.GetBytes(70_000);
        var path = Path.Combine(_dir.FullName, "report.json");
        File.WriteAllBytes(path, data);
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("GET", "/returned", _ => new FileInfo(path));
            s.Map("GET", "/sent", ctx => ctx.Response.SendFile(path));
            s.Map("GET", "/missing", ctx => ctx.Response.SendFile(Path.Combine(_dir.FullName, "nope.txt")));
        });
        var (responses, _) = await HttpKit.Exchange(server.EndPoint,
            "GET /returned HTTP/1.1\r\nHost: a\r\n\r\n" +
            "GET /sent HTTP/1.1\r\nHost: a\r\nRange: bytes=100-199\r\n\r\n" +
            "GET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.Equal([200, 206, 404], responses.Select(r => r.Status));
        Assert.Equal(data, responses[0].Body);
        Assert.StartsWith("application/json", responses[0].Header("Content-Type"));
        Assert.Equal(data[100..200], responses[1].Body);
        Assert.Equal("bytes 100-199/70000", responses[1].Header("Content-Range"));
    }
}
