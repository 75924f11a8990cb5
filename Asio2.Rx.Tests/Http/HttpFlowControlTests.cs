using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace Asio2.Rx.Tests.Http;

[CollectionDefinition(nameof(HttpFlowControlTests), DisableParallelization = true)]
public sealed class HttpFlowControlCollection;

/// <summary>
/// Bodies larger than memory, both ways: a 1 GiB file served from disk while the server's managed memory stays flat,
/// and a request body read slowly while the client pushes many MiB, the server holding no more than its read-credit
/// bound. Not run in parallel with other tests, so the process-wide memory figures are this transfer's.
/// </summary>
[Collection(nameof(HttpFlowControlTests))]
public sealed class HttpFlowControlTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("asio2rx-flow-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task OneGiBFile_IsServedFromTheFileRoot_WithFlatServerMemory()
    {
        const long size = 1L << 30;
        using (var file = new FileStream(Path.Combine(_dir.FullName, "huge.bin"), FileMode.CreateNew))
            file.SetLength(size); // sparse: no blocks on disk, reads as zeros
        await using var server = new TestHttpServer(routes: s => s.MapFiles("/", _dir.FullName));
        using var socket = await Wait.ConnectRaw(server.EndPoint);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        await socket.SendAsync("GET /huge.bin HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());

        // Read and discard, checking each piece is zeros and sampling the heap after every receive.
        var buffer = new byte[256 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)); // one token: a receive allocates nothing here
        var head = new MemoryStream();
        long body = 0, peak = baseline;
        long? length = null;
        bool zeros = true;
        while (length is null || body < length)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (n == 0) break;
            var data = buffer.AsSpan(0, n);
            if (length is null)
            {
                head.Write(data);
                var text = Encoding.Latin1.GetString(head.GetBuffer(), 0, (int)head.Length);
                int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0) continue;
                Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
                var cl = text[..end].Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                length = long.Parse(cl["Content-Length:".Length..].Trim());
                data = head.GetBuffer().AsSpan(end + 4, (int)head.Length - end - 4);
            }
            if (data.ContainsAnyExcept((byte)0)) zeros = false;
            body += data.Length;
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
        }
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        output.WriteLine($"1 GiB served: heap growth peak {(peak - baseline) / 1024} KiB, allocated {allocated / 1024} KiB");

        Assert.Equal(size, length);
        Assert.Equal(size, body);
        Assert.True(zeros, "the file's bytes arrived unchanged");
        Assert.True(peak - baseline < size / 16, $"the heap grew by {peak - baseline} bytes while serving {size}");
        // Allocation (garbage, collected as it goes) is reported, and bounded only against copying the file through memory.
        Assert.True(allocated < size / 4, $"{allocated} bytes were allocated while serving {size}");
    }

    [Fact]
    public async Task SlowBodyReader_HoldsTheClientBack_TheServerBuffersUnderItsBound_AndEverythingArrives()
    {
        const long total = 32L * 1024 * 1024;
        // The stream pattern: byte i is i % 251; a chunk of a multiple of 251 bytes is the same at every offset.
        var chunk = Enumerable.Range(0, 251 * 4177).Select(i => (byte)(i % 251)).ToArray();
        // Unread body pieces stop reading past the high water mark. Counted on top: the piece that crossed it, the read
        // it came in (the session counts it until delivered, so those bytes are counted twice), and one more read.
        long bound = HttpRequestBody.HighWater + 4L * new HttpServerOptions().ReceiveBufferSize;
        var turn = new SemaphoreSlim(0); // the client is blocked: read one piece
        var pieceRead = new SemaphoreSlim(0);
        long maxWaiting = 0;
        await using var server = new TestHttpServer(o => o.Limits.MaxRequestBodySize = 2 * total, s => s.Map("POST", "/slow", async ctx =>
        {
            var body = ctx.Request.Body;
            await using var stream = body.AsStream();
            var buffer = new byte[32 * 1024];
            long received = 0;
            bool intact = true;
            while (true)
            {
                Assert.True(await turn.WaitAsync(Wait.Long), "the client never blocked or finished");
                // Body pieces the server holds unread, plus bytes it read from the socket and did not deliver yet.
                maxWaiting = Math.Max(maxWaiting, body.Pending + ctx.Session.PendingReceiveBytes);
                int n = await stream.ReadAsync(buffer);
                pieceRead.Release();
                if (n == 0) break;
                for (int i = 0; i < n; i++)
                    if (buffer[i] != (byte)((received + i) % 251)) intact = false;
                received += n;
            }
            return $"{received} {intact}";
        }));
        using var socket = await Wait.ConnectRaw(server.EndPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: {total}\r\n\r\n"));

        // Non-blocking writes: WouldBlock means the pipe is full (the server's bound reached and the kernel buffers
        // filled behind it); only then may the handler read one piece. A server without a bound would take it all.
        socket.Blocking = false;
        long sent = 0;
        int blocked = 0;
        while (sent < total)
        {
            int offset = (int)(sent % chunk.Length);
            int n = socket.Send(chunk, offset, (int)Math.Min(chunk.Length - offset, total - sent), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                blocked++;
                turn.Release();
                Assert.True(await pieceRead.WaitAsync(Wait.Long), "the handler did not read");
                continue;
            }
            Assert.Equal(SocketError.Success, error);
            sent += n;
        }
        turn.Release(1_000_000); // the client is done: read the rest freely
        socket.Blocking = true;
        var r = Assert.Single(await HttpKit.Read(socket, 1));
        output.WriteLine($"32 MiB uploaded: the client blocked {blocked} times; the server held at most {maxWaiting} bytes (bound {bound})");

        Assert.Equal($"{total} True", r.Text);
        Assert.True(blocked > 0, "the client was never held back");
        Assert.True(maxWaiting <= bound, $"the server held {maxWaiting} bytes; the bound is {bound}");
    }
}
