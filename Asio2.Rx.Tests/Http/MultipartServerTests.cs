using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Text;
using static Asio2.Rx.Tests.Http.MultipartKit;

namespace Asio2.Rx.Tests.Http;

/// <summary>multipart/form-data through the server: raw sockets with the body split at every offset, every limit and
/// malformed body answered with its status while the connection goes on, temporary files deleted when the request
/// ends, the Rx shape's rules, and curl's <c>-F</c> with a multi-MiB file.</summary>
public sealed class MultipartServerTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("asio2rx-multipart-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>What a handler reading sections one by one reports: "name:sha256 of the body" per part.</summary>
    private static string Digest(string? name, byte[] data) => $"{name}:{Convert.ToHexString(SHA256.HashData(data))[..16]}";

    /// <summary>Reads the sections as the Rx shape asks: each body read from inside OnNext (SelectMany starts the
    /// async lambda there), results put back in order.</summary>
    private static async Task<string> DigestSections(HttpContext ctx)
    {
        var parts = await ctx.Request.ReadMultipart()
            .SelectMany(async (MultipartSection section, int index) =>
            {
                using var copy = new MemoryStream();
                await section.Body.CopyToAsync(copy);
                return (index, Digest(section.Name, copy.ToArray()));
            })
            .ToList();
        return string.Join(",", parts.OrderBy(p => p.index).Select(p => p.Item2));
    }

    private static byte[] ChunkedRequest(string path, byte[] body, params int[] splits)
    {
        var w = new Writer().Text($"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: {ContentType}\r\nTransfer-Encoding: chunked\r\n\r\n");
        int from = 0;
        foreach (int at in splits.Append(body.Length))
        {
            w.Text($"{at - from:X}\r\n").Raw(body[from..at]).Text("\r\n");
            from = at;
        }
        return w.Text("0\r\n\r\n").Bytes();
    }

    private static byte[] Request(string path, byte[] body, string? contentType = null, string extraHeaders = "") =>
        new Writer().Text($"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: {contentType ?? ContentType}\r\nContent-Length: {body.Length}\r\n{extraHeaders}\r\n").Raw(body).Bytes();

    [Fact]
    public async Task BoundarySplitAtEveryOffset_OverARawSocket_YieldsTheSameSections()
    {
        var body = Sample();
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/digest", DigestSections));
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        // Each chunk of the chunked coding reaches the reader as its own piece, however TCP packs them.
        await socket.SendAsync(ChunkedRequest("/digest", body));
        var whole = Assert.Single(await HttpKit.Read(socket, 1));
        Assert.Equal(200, whole.Status);
        Assert.Equal(5, whole.Text.Split(',').Length);
        Assert.StartsWith(Digest("title", "hello world"u8.ToArray()), whole.Text);
        for (int k = 1; k < body.Length; k++)
        {
            await socket.SendAsync(ChunkedRequest("/digest", body, k));
            var r = Assert.Single(await HttpKit.Read(socket, 1));
            Assert.True(whole.Text == r.Text, $"split at {k}: {r.Status} {r.Text}");
        }
    }

    public static TheoryData<string, Func<MultipartLimits>, int, HttpRejection> CrossedLimits() => new()
    {
        { "parts", () => new MultipartLimits { MaxParts = 4 }, 413, HttpRejection.MultipartTooManyParts },
        { "part headers", () => new MultipartLimits { MaxPartHeadersSize = 64 }, 413, HttpRejection.MultipartHeadersTooLarge },
        { "part size", () => new MultipartLimits { MaxPartSize = 100 }, 413, HttpRejection.MultipartPartTooLarge },
        { "field size", () => new MultipartLimits { MaxFieldSize = 10 }, 413, HttpRejection.MultipartPartTooLarge },
        { "body size", () => new MultipartLimits { MaxBodySize = 200 }, 413, HttpRejection.MultipartBodyTooLarge },
    };

    [Theory]
    [MemberData(nameof(CrossedLimits))]
    public async Task EachLimitCrossed_Answers413WithItsReason_DiscardsTheRest_AndTheConnectionGoesOn(string name, Func<MultipartLimits> limits, int status, HttpRejection reason)
    {
        var seen = new ConcurrentQueue<HttpRejection>();
        var tempDir = _temp.CreateSubdirectory(name.Replace(' ', '-')).FullName;
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("POST", "/form", async ctx =>
            {
                var l = limits();
                l.MemoryThreshold = 0; // every file part goes to disk, so a refusal must delete what was written
                l.TempDirectory = tempDir;
                try
                {
                    using var form = await ctx.Request.ReadMultipartFormAsync(l);
                    return "read";
                }
                catch (HttpRejectedException e)
                {
                    seen.Enqueue(e.Reason);
                    throw;
                }
            });
            s.Map("GET", "/after", _ => "after");
        });
        // A large last part, so the refusal comes while most of the body is still to arrive.
        var body = Build(
            ("Content-Disposition: form-data; name=\"file\"; filename=\"f.bin\"", new byte[50]),
            ("Content-Disposition: form-data; name=\"title\"", "a field longer than ten bytes"u8.ToArray()),
            ("Content-Disposition: form-data; name=\"x\"", "1"u8.ToArray()),
            ("Content-Disposition: form-data; name=\"y\"", "2"u8.ToArray()),
            ("Content-Disposition: form-data; name=\"big\"; filename=\"big.bin\"", new byte[1024 * 1024])).Bytes();
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(Request("/form", body).Concat("GET /after HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray()).ToArray());
        var responses = await HttpKit.Read(socket, 2);

        Assert.Equal(status, responses[0].Status);
        Assert.Equal([reason], seen);
        Assert.Equal("after", responses[1].Text);
        Assert.Empty(Directory.GetFiles(tempDir));
    }

    public static TheoryData<string, byte[], int> BadBodies() => new()
    {
        { "text/plain", "a=1"u8.ToArray(), 415 },
        { ContentType, Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno final boundary"), 400 },
        { ContentType, Encoding.ASCII.GetBytes($"--{Boundary}\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--{Boundary}--"), 400 },
        { ContentType, Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Type: text/plain\r\n\r\nno name\r\n--{Boundary}--"), 400 },
        { "multipart/form-data", Sample(), 400 },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task MalformedBody_GetsItsStatus_AndTheConnectionGoesOn(string contentType, byte[] body, int status)
    {
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("POST", "/form", async ctx => { using var form = await ctx.Request.ReadMultipartFormAsync(); return "read"; });
            s.Map("GET", "/after", _ => "after");
        });
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(Request("/form", body, contentType).Concat("GET /after HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray()).ToArray());
        var responses = await HttpKit.Read(socket, 2);
        Assert.Equal(status, responses[0].Status);
        Assert.Equal("after", responses[1].Text);
    }

    [Fact]
    public async Task Form_SmallFilesStayInMemory_LargeOnesGoToDiskAndCanBeSaved_AndAreDeletedWhenTheRequestEnds()
    {
        var large = RandomNumberGenerator.GetBytes(300_000);
        string? spilled = null;
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/form", async ctx =>
        {
            var form = await ctx.Request.ReadMultipartFormAsync(new MultipartLimits { MemoryThreshold = 1024, TempDirectory = _temp.FullName });
            var big = form.Files.Single(f => f.Name == "big");
            spilled = big.TempPath;
            using var read = big.OpenRead();
            using var copy = new MemoryStream();
            await read.CopyToAsync(copy);
            await big.SaveAsAsync(Path.Combine(_temp.FullName, "saved.bin"));
            var small = form.Files.Single(f => f.Name == "small");
            return $"{form.Fields["title"]}|{small.FileName}|{small.IsOnDisk}|{small.Length}|{big.IsOnDisk}|{big.Length}|{File.Exists(spilled)}|{copy.ToArray().AsSpan().SequenceEqual(large)}";
        }));
        var body = Build(
            ("Content-Disposition: form-data; name=\"title\"", "Grüße"u8.ToArray()),
            ("Content-Disposition: form-data; name=\"small\"; filename=\"s.txt\"\r\nContent-Type: text/plain", new byte[1024]),
            ("Content-Disposition: form-data; name=\"big\"; filename=\"b.bin\"", large)).Bytes();
        // Connection: close: the server closes after the request ended, so the deletion has happened when we see EOF.
        var (responses, _) = await HttpKit.Exchange(server.EndPoint, Encoding.Latin1.GetString(Request("/form", body, extraHeaders: "Connection: close\r\n")));

        Assert.Equal("Grüße|s.txt|False|1024|True|300000|True|True", Assert.Single(responses).Text);
        Assert.NotNull(spilled);
        Assert.StartsWith(_temp.FullName, spilled);
        Assert.False(File.Exists(spilled), "the temporary file outlived its request");
        Assert.Equal(large, File.ReadAllBytes(Path.Combine(_temp.FullName, "saved.bin")));
    }

    private static async Task<string> Text(MultipartSection section) => section.Name + "=" + await section.ReadTextAsync();

    [Fact]
    public async Task Sections_NotRead_AreSkipped_ChunksMayBeKept_AndALateRead_IsRefused()
    {
        var late = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/mixed", async ctx =>
        {
            var pending = new List<Task<string>>();
            MultipartSection? skipped = null;
            await ctx.Request.ReadMultipart().Do(section =>
            {
                if (section.Name == "tricky") skipped = section; // not read in OnNext: skipped
                else if (section.Name == "file") pending.Add(section.Chunks.ToList().Select(chunks => Digest(section.Name, chunks.SelectMany(c => c.ToArray()).ToArray())).ToTask());
                else pending.Add(Text(section)); // starts reading here, finishes later
            }).LastOrDefaultAsync();
            try { await skipped!.Body.CopyToAsync(Stream.Null); }
            catch (Exception ex) { late.TrySetResult(ex); }
            var seen = await Task.WhenAll(pending);
            return string.Join(",", seen);
        }));
        var (responses, _) = await HttpKit.Exchange(server.EndPoint, Encoding.Latin1.GetString(Request("/mixed", Sample(), extraHeaders: "Connection: close\r\n")));
        var file = new MultipartKit.Writer().Raw(Enumerable.Range(0, 300).Select(i => (byte)(i * 7 % 256)).ToArray()).Text("\r\n--\r\n").Bytes();
        Assert.Equal($"title=hello world,{Digest("file", file)},empty=,=no headers", Assert.Single(responses).Text);
        Assert.IsType<InvalidOperationException>(await late.Task.WaitAsync(Wait.Long));
    }

    [Fact]
    public async Task DotNetMultipartFormDataContent_QuotedBoundaryAndExtendedFileName_IsReadAsAForm()
    {
        var data = RandomNumberGenerator.GetBytes(200_000);
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/form", async ctx =>
        {
            using var form = await ctx.Request.ReadMultipartFormAsync(new MultipartLimits { TempDirectory = _temp.FullName });
            var file = form.Files.Single();
            await using var read = file.OpenRead();
            return $"{form.Fields["title"]}|{file.Name}|{file.FileName}|{file.IsOnDisk}|{Convert.ToHexString(await SHA256.HashDataAsync(read))}";
        }));
        using var client = new RxHttpClient();
        // .NET writes boundary="..." quoted and a non-ASCII file name as filename*=utf-8''...
        var result = await client.Post(server.Url + "/form", () => new System.Net.Http.MultipartFormDataContent
        {
            { new System.Net.Http.StringContent("Grüße"), "title" },
            { new System.Net.Http.ByteArrayContent(data), "photo", "Strand €.jpg" },
        }).Timeout(Wait.Long);
        Assert.Equal($"Grüße|photo|Strand €.jpg|True|{Convert.ToHexString(SHA256.HashData(data))}", result);
    }

    [PeerFact("curl")]
    public async Task CurlForm_WithFieldsAndAMultiMiBFile_IsReadAsAForm_AndAsSections()
    {
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 3);
        var path = Path.Combine(_temp.FullName, "upload.bin");
        await File.WriteAllBytesAsync(path, data);
        var note = Path.Combine(_temp.FullName, "note.txt");
        await File.WriteAllTextAsync(note, "a small text file\r\n");
        await using var server = new TestHttpServer(routes: s =>
        {
            s.Map("POST", "/form", async ctx =>
            {
                using var form = await ctx.Request.ReadMultipartFormAsync(new MultipartLimits { TempDirectory = _temp.FullName });
                var lines = form.Fields.OrderBy(f => f.Key).Select(f => $"{f.Key}={f.Value}").ToList();
                foreach (var file in form.Files)
                {
                    await using var read = file.OpenRead();
                    lines.Add($"{file.Name}:{file.FileName}:{file.ContentType}:{file.IsOnDisk}:{Convert.ToHexString(await SHA256.HashDataAsync(read))}");
                }
                return string.Join("\n", lines);
            });
            s.Map("POST", "/digest", DigestSections);
        });
        string[] fields = ["-F", "title=hello", "-F", "note=Grüße aus Köln", "-F", $"upload=@{path};type=application/x-test", "-F", $"text=@{note}"];
        var r = await PeerProcess.Run("curl", ["-sS", "--max-time", "60", .. fields, server.Url + "/form"]);

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(string.Join("\n",
            "note=Grüße aus Köln",
            "title=hello",
            $"upload:upload.bin:application/x-test:True:{Convert.ToHexString(SHA256.HashData(data))}",
            $"text:note.txt:text/plain:False:{Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(note)))}"), r.Text);

        var sections = await PeerProcess.Run("curl", ["-sS", "--max-time", "60", .. fields, server.Url + "/digest"]);
        Assert.Equal(string.Join(",",
            Digest("title", "hello"u8.ToArray()), Digest("note", Encoding.UTF8.GetBytes("Grüße aus Köln")),
            Digest("upload", data), Digest("text", File.ReadAllBytes(note))), sections.Text);
        Assert.Empty(Directory.GetFiles(_temp.FullName, "asio2rx-*"));
    }
}
