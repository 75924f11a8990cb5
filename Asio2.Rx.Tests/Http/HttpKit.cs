using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>One response as read off the wire by <see cref="HttpKit"/>.</summary>
internal sealed record RawResponse(string Version, int Status, List<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>Plays an HTTP client over a raw socket, byte for byte, and parses what comes back.</summary>
internal sealed class HttpKit
{
    /// <summary>Sends <paramref name="request"/> in one write, then reads until the server closes.</summary>
    public static async Task<(List<RawResponse> Responses, bool Closed)> Exchange(IPEndPoint endPoint, string request, bool headRequest = false)
    {
        using var socket = await Wait.ConnectRaw(endPoint);
        await socket.SendAsync(Encoding.Latin1.GetBytes(request), SocketFlags.None);
        var bytes = await ReadToEnd(socket);
        return (Parse(bytes, headRequest), true);
    }

    /// <summary>Reads until the peer closes (a reset after the response counts as closed too).</summary>
    public static async Task<byte[]> ReadToEnd(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[65536];
        while (true)
        {
            int n;
            try { n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Wait.Long); }
            catch (SocketException) { break; }
            if (n == 0) break;
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> responses from an open connection (leaves it open).</summary>
    public static async Task<List<RawResponse>> Read(Socket socket, int count, bool headRequest = false)
    {
        var all = new MemoryStream();
        var buffer = new byte[65536];
        while (true)
        {
            var parsed = TryParse(all.ToArray(), headRequest ? int.MaxValue : 0, out _);
            if (parsed.Count >= count) return parsed;
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Wait.Long);
            if (n == 0) throw new IOException($"closed after {parsed.Count} of {count} responses");
            all.Write(buffer, 0, n);
        }
    }

    public static List<RawResponse> Parse(byte[] bytes, bool headRequest = false) => Parse(bytes, headRequest ? int.MaxValue : 0);

    /// <summary>Parses responses; the first <paramref name="headResponses"/> answer HEAD requests (no body bytes).</summary>
    public static List<RawResponse> Parse(byte[] bytes, int headResponses)
    {
        var list = TryParse(bytes, headResponses, out int rest);
        if (rest != bytes.Length) throw new InvalidDataException($"{bytes.Length - rest} trailing bytes: {Encoding.Latin1.GetString(bytes, rest, Math.Min(200, bytes.Length - rest))}");
        return list;
    }

    private static List<RawResponse> TryParse(byte[] bytes, int headResponses, out int pos)
    {
        var list = new List<RawResponse>();
        pos = 0;
        while (pos < bytes.Length)
        {
            int end = IndexOf(bytes, "\r\n\r\n"u8, pos);
            if (end < 0) break;
            var lines = Encoding.Latin1.GetString(bytes, pos, end - pos).Split("\r\n");
            var status = lines[0].Split(' ', 3);
            var headers = lines.Skip(1).Select(l => { int c = l.IndexOf(':'); return new KeyValuePair<string, string>(l[..c], l[(c + 1)..].Trim()); }).ToList();
            int p = end + 4;
            int code = int.Parse(status[1]);
            var response = new RawResponse(status[0], code, headers, []);
            string? cl = response.Header("Content-Length"), te = response.Header("Transfer-Encoding");
            byte[] body;
            bool headRequest = list.Count < headResponses;
            if (code < 200 || code is 204 or 304 || headRequest) body = [];
            else if (te == "chunked")
            {
                var b = new MemoryStream();
                while (true)
                {
                    int le = IndexOf(bytes, "\r\n"u8, p);
                    if (le < 0) return list;
                    int size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, p, le - p), 16);
                    if (le + 2 + size + 2 > bytes.Length) return list;
                    b.Write(bytes, le + 2, size);
                    p = le + 2 + size + 2;
                    if (size == 0) break;
                }
                body = b.ToArray();
            }
            else if (cl is not null)
            {
                int len = int.Parse(cl);
                if (p + len > bytes.Length) return list;
                body = bytes[p..(p + len)];
                p += len;
            }
            else
            {
                body = bytes[p..];
                p = bytes.Length;
            }
            if (code >= 200 || !headRequest) list.Add(response with { Body = body });
            pos = p;
        }
        return list;
    }

    private static int IndexOf(byte[] bytes, ReadOnlySpan<byte> what, int from)
    {
        int i = bytes.AsSpan(from).IndexOf(what);
        return i < 0 ? -1 : from + i;
    }
}

/// <summary>A server on 127.0.0.1 port 0 with a recorded count of handler calls.</summary>
internal sealed class TestHttpServer : IAsyncDisposable
{
    private int _calls;

    public TestHttpServer(Action<HttpServerOptions>? configure = null, Action<HttpServer>? routes = null)
    {
        var options = new HttpServerOptions();
        configure?.Invoke(options);
        Server = new HttpServer(options);
        Server.Requests.Subscribe(_ => Interlocked.Increment(ref _calls));
        if (routes is null) Server.Map("GET,POST,PUT,DELETE,OPTIONS", "*", ctx => "ok");
        else routes(Server);
        EndPoint = Server.Start("127.0.0.1", 0);
    }

    public HttpServer Server { get; }
    public IPEndPoint EndPoint { get; }
    public int Port => EndPoint.Port;
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Requests that reached the application (Requests subscribers, then handlers).</summary>
    public int Calls => Volatile.Read(ref _calls);

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
