using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx;

/// <summary>Progress of a download: bytes written so far (a resumed download counts what was already on disk), the
/// total when known, and the average rate of this transfer.</summary>
/// <param name="Bytes">Bytes of the file on disk so far.</param>
/// <param name="Total">The whole file's length, when the server said; else null.</param>
/// <param name="BytesPerSecond">Average rate of the bytes transferred by this download (not counting resumed ones).</param>
public readonly record struct DownloadProgress(long Bytes, long? Total, double BytesPerSecond);

/// <summary>
/// An HTTP client in Rx shape over <see cref="System.Net.Http.HttpClient"/> with one shared
/// <see cref="SocketsHttpHandler"/>: every call is a cold observable (each subscription sends the request; unsubscribing
/// cancels it), so <c>Timeout</c>, <c>Retry</c> and friends compose. Non-success statuses fail with
/// <see cref="HttpRequestException"/> (with its <see cref="HttpRequestException.StatusCode"/>).
/// </summary>
/// <example>
/// <code>
/// string text = await RxHttpClient.Execute("http://127.0.0.1:8080/hello");
/// await RxHttpClient.Shared.Download(url, "file.bin").LastAsync();   // resumes a partial file by Range
/// </code>
/// </example>
public sealed class RxHttpClient : IDisposable
{
    private static readonly Lazy<RxHttpClient> s_shared = new(() => new RxHttpClient());
    private readonly System.Net.Http.HttpClient _client;
    private readonly IScheduler _clock;

    /// <summary>Creates a client with its own connection pool (<paramref name="handler"/>, or a new
    /// <see cref="SocketsHttpHandler"/>). <paramref name="clock"/> times download rates; defaults to
    /// <see cref="Scheduler.Default"/>.</summary>
    public RxHttpClient(HttpMessageHandler? handler = null, IScheduler? clock = null)
    {
        _client = new System.Net.Http.HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan, // compose Rx's Timeout instead
        };
        _clock = clock ?? Scheduler.Default;
    }

    /// <summary>One client for the process, sharing one connection pool.</summary>
    public static RxHttpClient Shared => s_shared.Value;

    /// <summary>asio2's <c>execute(url)</c>: GETs <paramref name="url"/> with <see cref="Shared"/> and returns the body text.</summary>
    public static Task<string> Execute(string url) => Shared.Get(url).ToTask();

    /// <summary>Sends the request <paramref name="create"/> makes (once per subscription); the response, with its headers
    /// read and its body unread, whatever the status. Dispose the response.</summary>
    public IObservable<HttpResponseMessage> Send(Func<HttpRequestMessage> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        return Observable.FromAsync(ct => _client.SendAsync(create(), HttpCompletionOption.ResponseHeadersRead, ct));
    }

    /// <summary>GETs <paramref name="url"/>; the body as text.</summary>
    public IObservable<string> Get(string url) => Text(() => new HttpRequestMessage(HttpMethod.Get, url));

    /// <summary>POSTs <paramref name="content"/> (made per subscription) to <paramref name="url"/>; the body as text.</summary>
    public IObservable<string> Post(string url, Func<HttpContent> content) =>
        Text(() => new HttpRequestMessage(HttpMethod.Post, url) { Content = content() });

    /// <summary>PUTs (or <paramref name="method"/>s) the file at <paramref name="path"/>, streamed from disk; the body as text.</summary>
    public IObservable<string> Upload(string url, string path, HttpMethod? method = null) =>
        Upload(url, () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan), method);

    /// <summary>PUTs (or <paramref name="method"/>s) the stream <paramref name="open"/> returns (opened per subscription,
    /// disposed after), read as it is sent: with a <c>Content-Length</c> when the stream can seek, chunked otherwise;
    /// the body as text.</summary>
    public IObservable<string> Upload(string url, Func<Stream> open, HttpMethod? method = null)
    {
        ArgumentNullException.ThrowIfNull(open);
        return Text(() => new HttpRequestMessage(method ?? HttpMethod.Put, url) { Content = new StreamContent(open()) });
    }

    private IObservable<string> Text(Func<HttpRequestMessage> create) => Observable.FromAsync(async ct =>
    {
        using var response = await _client.SendAsync(create(), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    });

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="path"/>, reporting progress after each piece, then completing.
    /// When the file already has bytes, asks for the rest with <c>Range</c> and appends (a server that ignores the range
    /// answers 200 and the file is rewritten from the start). Unsubscribing cancels and leaves the partial file for a
    /// later resume.
    /// </summary>
    public IObservable<DownloadProgress> Download(string url, string path) => Observable.Create<DownloadProgress>(async (observer, ct) =>
    {
        long existing = File.Exists(path) ? new FileInfo(path).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (existing > 0) request.Headers.Range = new RangeHeaderValue(existing, null);
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && existing > 0
            && response.Content.Headers.ContentRange?.Length == existing)
        {
            observer.OnNext(new DownloadProgress(existing, existing, 0)); // already complete
            observer.OnCompleted();
            return;
        }
        response.EnsureSuccessStatusCode();
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        long offset = resumed ? existing : 0;
        long? total = resumed ? response.Content.Headers.ContentRange?.Length : response.Content.Headers.ContentLength;
        // The file is closed before completion: whoever awaits the download may open it at once.
        await using (var file = new FileStream(path, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
        await using (var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
        {
            var buffer = new byte[64 * 1024];
            var started = _clock.Now;
            long transferred = 0;
            int n;
            while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                transferred += n;
                var seconds = (_clock.Now - started).TotalSeconds;
                observer.OnNext(new DownloadProgress(offset + transferred, total, seconds > 0 ? transferred / seconds : 0));
            }
        }
        observer.OnCompleted();
    });

    /// <summary>Disposes the connection pool (not for <see cref="Shared"/>, which lives as long as the process).</summary>
    public void Dispose() => _client.Dispose();
}
