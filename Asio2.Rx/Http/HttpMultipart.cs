using System.Reactive.Linq;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// <c>multipart/form-data</c> (RFC 7578) request bodies, read as they arrive: part by part as an observable of
/// <see cref="MultipartSection"/>s whose bodies stream, or collected into form fields and files (large files to disk).
/// Never buffered whole; every limit in <see cref="MultipartLimits"/> ends the read with an
/// <see cref="HttpRejectedException"/> naming it, which a handler may let escape to answer its status.
/// </summary>
/// <example>
/// <code>
/// server.Map("POST", "/upload", async ctx =>
/// {
///     using MultipartForm form = await ctx.Request.ReadMultipartFormAsync();
///     return $"{form.Fields["title"]}: {form.Files.Sum(f => f.Length)} bytes";
/// });
/// </code>
/// </example>
public static class HttpMultipart
{
    /// <summary>
    /// The body's parts, in order, as they arrive (cold, one subscription; it reads the body). Each section's body is
    /// a stream of that part's bytes only: start reading it (<see cref="MultipartSection.Body"/>,
    /// <see cref="MultipartSection.Chunks"/> or <see cref="MultipartSection.ReadTextAsync"/>) before <c>OnNext</c>
    /// returns, and the next section comes once it was read to its end or disposed; a section nobody started reading
    /// is skipped. The sequence fails with <see cref="HttpRejectedException"/> for a body that is not multipart (415),
    /// malformed or cut short (400) or over a limit (413); the rest of the body is then discarded as it arrives.
    /// </summary>
    /// <example>
    /// <code>
    /// await ctx.Request.ReadMultipart()
    ///     .SelectMany(async section =>
    ///     {
    ///         await using var file = File.Create(Path.Combine(dir, Path.GetFileName(section.FileName ?? "field")));
    ///         await section.Body.CopyToAsync(file);   // reading starts here, inside OnNext
    ///         return section.Name;
    ///     })
    ///     .ToList();
    /// </code>
    /// </example>
    public static IObservable<MultipartSection> ReadMultipart(this HttpRequest request, MultipartLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var resolved = limits ?? new MultipartLimits();
        return Observable.Create<MultipartSection>(async (observer, cancellationToken) =>
        {
            var reader = MultipartReader.Open(request.Body, request.ContentType, resolved, cancellationToken);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.NextPartAsync().ConfigureAwait(false) is { } headers)
                {
                    var section = new MultipartSection(reader, headers);
                    observer.OnNext(section);
                    await section.FinishedAsync().ConfigureAwait(false);
                }
            }
            observer.OnCompleted();
        });
    }

    /// <summary>
    /// Reads the whole body as a form: parts without a file name become <see cref="MultipartForm.Fields"/> (UTF-8 text,
    /// at most <see cref="MultipartLimits.MaxFieldSize"/> each), parts with one become <see cref="MultipartForm.Files"/>,
    /// kept in memory up to <see cref="MultipartLimits.MemoryThreshold"/> and written to a temporary file beyond it.
    /// Temporary files are deleted when the request ends (its response written or its connection closed), or earlier
    /// by disposing the form; copy what you keep (<see cref="MultipartFile.SaveAsAsync"/>).
    /// </summary>
    /// <exception cref="HttpRejectedException">Not multipart (415), malformed, cut short or a part without a
    /// <c>name</c> (400), over a limit (413). Files written so far are deleted.</exception>
    public static async Task<MultipartForm> ReadMultipartFormAsync(this HttpRequest request, MultipartLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        limits ??= new MultipartLimits();
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var files = new List<MultipartFile>();
        try
        {
            var reader = MultipartReader.Open(request.Body, request.ContentType, limits, cancellationToken);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.NextPartAsync().ConfigureAwait(false) is { } headers)
                {
                    var (_, disposition) = HeaderParameters.Parse(headers["Content-Disposition"] ?? "");
                    if (!disposition.TryGetValue("name", out var name))
                        throw new HttpRejectedException(HttpRejection.InvalidMultipart, "a form part has no Content-Disposition name (RFC 7578 §4.2)");
                    if (disposition.TryGetValue("filename", out var fileName))
                        files.Add(await MultipartFile.ReceiveAsync(reader, request, name, fileName, headers, limits, cancellationToken).ConfigureAwait(false));
                    else
                        fields[name] = Encoding.UTF8.GetString(await reader.ReadPartAsync(limits.MaxFieldSize, "form field").ConfigureAwait(false));
                }
            }
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
        return new MultipartForm(fields, files);
    }
}

/// <summary>
/// One part of a multipart body: its headers, the form field <see cref="Name"/> and <see cref="FileName"/> from its
/// <c>Content-Disposition</c>, and its body, read once as a <see cref="Body"/> stream, as <see cref="Chunks"/>, or
/// whole with <see cref="ReadTextAsync"/>. Read asynchronously: the bytes arrive on the connection's scheduler, so a
/// blocking read there would wait for itself.
/// </summary>
public sealed class MultipartSection
{
    private const int Unclaimed = 0, Reading = 1, Skipped = 2;
    private readonly MultipartReader _reader;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;
    private SectionStream? _body;

    internal MultipartSection(MultipartReader reader, HttpHeaders headers)
    {
        _reader = reader;
        Headers = headers;
        var (_, disposition) = HeaderParameters.Parse(headers["Content-Disposition"] ?? "");
        Name = disposition.GetValueOrDefault("name");
        FileName = disposition.GetValueOrDefault("filename");
    }

    /// <summary>The part's header fields, in order.</summary>
    public HttpHeaders Headers { get; }

    /// <summary>The form field name (<c>Content-Disposition: form-data; name="..."</c>), or null.</summary>
    public string? Name { get; }

    /// <summary>The file name (<c>filename*</c> preferred over <c>filename</c>), as the client sent it: use
    /// <see cref="Path.GetFileName(string)"/> before putting it in a path. Null for a plain field.</summary>
    public string? FileName { get; }

    /// <summary>The part's <c>Content-Type</c>, or null (RFC 7578: text/plain then).</summary>
    public string? ContentType => Headers["Content-Type"];

    /// <summary>The part's body as a read-only stream, ending at the part's end. Disposing it before the end skips the
    /// rest of the part.</summary>
    public Stream Body => _body ??= new SectionStream(this);

    /// <summary>The part's body as pieces (immutable, safe to keep), then completion. Subscribe once, inside
    /// <c>OnNext</c>; unsubscribing skips the rest of the part.</summary>
    public IObservable<ReadOnlyMemory<byte>> Chunks => Observable.Create<ReadOnlyMemory<byte>>(async (observer, cancellationToken) =>
    {
        Claim();
        Exception? error = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var data = await _reader.ReadAsync().ConfigureAwait(false);
                if (data.IsEmpty)
                {
                    observer.OnCompleted();
                    return;
                }
                observer.OnNext(data);
            }
        }
        catch (Exception ex)
        {
            error = ex;
            throw;
        }
        finally
        {
            Release(error);
        }
    });

    /// <summary>Reads the whole part as UTF-8 text; fails with <see cref="HttpRejection.MultipartPartTooLarge"/> past
    /// <paramref name="maxBytes"/>.</summary>
    public async Task<string> ReadTextAsync(int maxBytes = 1024 * 1024)
    {
        Claim();
        Exception? error = null;
        try
        {
            return Encoding.UTF8.GetString(await _reader.ReadPartAsync(maxBytes, "part").ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            error = ex;
            throw;
        }
        finally
        {
            Release(error);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => FileName is null ? $"field {Name}" : $"file {Name} ({FileName})";

    private void Claim()
    {
        if (Interlocked.CompareExchange(ref _state, Reading, Unclaimed) != Unclaimed)
            throw new InvalidOperationException("A section's body is read once, and reading must start before OnNext returns; this one was read or skipped already.");
    }

    /// <summary>The reader may go on: the body was read to its end, abandoned, or failed (then so does the sequence).</summary>
    private void Release(Exception? error)
    {
        if (error is null) _finished.TrySetResult();
        else _finished.TrySetException(error);
    }

    /// <summary>After <c>OnNext</c>: skips a section nobody started reading, else waits until its reader lets go.</summary>
    internal Task FinishedAsync() =>
        Interlocked.CompareExchange(ref _state, Skipped, Unclaimed) == Unclaimed ? Task.CompletedTask : _finished.Task;

    private sealed class SectionStream(MultipartSection section) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _current;
        private bool _claimed;
        private bool _ended;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_claimed)
            {
                section.Claim();
                _claimed = true;
            }
            if (_ended || buffer.IsEmpty) return 0;
            cancellationToken.ThrowIfCancellationRequested();
            while (_current.IsEmpty)
            {
                ReadOnlyMemory<byte> data;
                try
                {
                    data = await section._reader.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    _ended = true;
                    section.Release(ex);
                    throw;
                }
                if (data.IsEmpty)
                {
                    _ended = true;
                    section.Release(null);
                    return 0;
                }
                _current = data;
            }
            int n = Math.Min(buffer.Length, _current.Length);
            _current[..n].CopyTo(buffer);
            _current = _current[n..];
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _claimed) section.Release(null);
            base.Dispose(disposing);
        }
    }
}
