using System.Net.Http;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;

namespace Asio2.Rx.Tests.Http;

/// <summary>The HttpClient-based client against the server: cold calls, errors, download with progress and resume, upload.</summary>
public sealed class RxHttpClientTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("asio2rx-client-");
    private readonly RxHttpClient _client = new();

    public void Dispose()
    {
        _client.Dispose();
        _dir.Delete(recursive: true);
    }

    [Fact]
    public async Task Calls_AreCold_AndExecuteIsAOneLiner()
    {
        int hits = 0;
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/n", _ => (++hits).ToString()));
        var get = _client.Get(server.Url + "/n");
        Assert.Equal(0, hits); // nothing sent before subscribing
        Assert.Equal("1", await get.Timeout(Wait.Long));
        Assert.Equal("2", await get.Timeout(Wait.Long)); // each subscription sends again
        Assert.Equal("3", await RxHttpClient.Execute(server.Url + "/n"));
    }

    [Fact]
    public async Task NonSuccess_FailsWithTheStatus_AndPostSendsTheBody()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/echo", async ctx => await ctx.Request.Body.ReadTextAsync()));
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => _client.Get(server.Url + "/missing").ToTask());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, error.StatusCode);
        Assert.Equal("posted", await _client.Post(server.Url + "/echo", () => new StringContent("posted")));
    }

    [Fact]
    public async Task Download_ReportsProgress_AndResumesAPartialFileByRange()
    {
        var site = Directory.CreateDirectory(Path.Combine(_dir.FullName, "site")).FullName;
        var data = RandomNumberGenerator.GetBytes(1_000_000);
        File.WriteAllBytes(Path.Combine(site, "f.bin"), data);
        int ranged = 0;
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Use(HttpHook.Before(ctx => { if (ctx.Request.Headers.Contains("Range")) Interlocked.Increment(ref ranged); return true; }));
            s.MapFiles("/", site);
        });
        var target = Path.Combine(_dir.FullName, "f.bin");
        File.WriteAllBytes(target, data[..300_000]); // an interrupted earlier download
        var progress = await _client.Download(server.Url + "/f.bin", target).ToList().ToTask().WaitAsync(Wait.Long);
        Assert.Equal(1, ranged);
        Assert.True(progress.Count >= 1);
        Assert.All(progress, p => Assert.Equal(1_000_000, p.Total));
        Assert.Equal(1_000_000, progress[^1].Bytes);
        Assert.True(progress.Select(p => p.Bytes).SequenceEqual(progress.Select(p => p.Bytes).Order()));
        Assert.Equal(data, File.ReadAllBytes(target));
    }

    [Fact]
    public async Task Upload_StreamsAFile()
    {
        var path = Path.Combine(_dir.FullName, "up.bin");
        var data = RandomNumberGenerator.GetBytes(2_000_000);
        File.WriteAllBytes(path, data);
        await using var server = new TestHttpServer(routes: s => s.Map("PUT", "/up", async ctx =>
            Convert.ToHexString(await SHA256.HashDataAsync(ctx.Request.Body.AsStream()))));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), await _client.Upload(server.Url + "/up", path));
    }

    [Fact]
    public async Task Upload_StreamsAStreamOfUnknownLength_Chunked()
    {
        var data = RandomNumberGenerator.GetBytes(3_000_000);
        await using var server = new TestHttpServer(routes: s => s.Map("PUT,POST", "/up", async ctx =>
            $"{Convert.ToHexString(await SHA256.HashDataAsync(ctx.Request.Body.AsStream()))} {ctx.Request.ContentLength?.ToString() ?? "chunked"}"));
        var hash = Convert.ToHexString(SHA256.HashData(data));
        Assert.Equal($"{hash} chunked", await _client.Upload(server.Url + "/up", () => new NonSeekable(data)).Timeout(Wait.Long));
        Assert.Equal($"{hash} {data.Length}", await _client.Upload(server.Url + "/up", () => new MemoryStream(data), HttpMethod.Post).Timeout(Wait.Long));
    }

    [Fact]
    public async Task Unsubscribing_CancelsTheRequest_AndAFiringTimeoutDoesToo()
    {
        var started = System.Threading.Channels.Channel.CreateUnbounded<Session>();
        // A handler that never answers: only the client can end these requests.
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/never", ctx => { started.Writer.TryWrite(ctx.Session); }));

        var subscription = _client.Get(server.Url + "/never").Subscribe(_ => { }, _ => { });
        var first = await started.Reader.ReadAsync().AsTask().WaitAsync(Wait.Long);
        subscription.Dispose();
        Assert.Contains((await first.Closed.First("the cancelled request's connection to close")).Kind, new[] { CloseKind.RemoteClose, CloseKind.Reset });

        await Assert.ThrowsAsync<TimeoutException>(() => _client.Get(server.Url + "/never").Timeout(TimeSpan.FromMilliseconds(50)).ToTask());
        var second = await started.Reader.ReadAsync().AsTask().WaitAsync(Wait.Long);
        Assert.Contains((await second.Closed.First("the timed-out request's connection to close")).Kind, new[] { CloseKind.RemoteClose, CloseKind.Reset });
    }

    /// <summary>A stream that cannot seek, so its length is unknown to HttpClient.</summary>
    private sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
