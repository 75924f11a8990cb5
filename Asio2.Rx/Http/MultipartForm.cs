using System.Buffers;

namespace Asio2.Rx;

/// <summary>
/// A <c>multipart/form-data</c> body collected by <see cref="HttpMultipart.ReadMultipartFormAsync"/>: its fields as
/// text and its files. Disposing it deletes the files' temporary copies now rather than when the request ends.
/// </summary>
public sealed class MultipartForm : IDisposable
{
    internal MultipartForm(IReadOnlyDictionary<string, string> fields, IReadOnlyList<MultipartFile> files)
    {
        Fields = fields;
        Files = files;
    }

    /// <summary>The parts without a file name, by name, as UTF-8 text; a repeated name keeps its last value (as
    /// <see cref="HttpForms.ParseUrlEncoded"/>).</summary>
    public IReadOnlyDictionary<string, string> Fields { get; }

    /// <summary>The parts with a file name, in order.</summary>
    public IReadOnlyList<MultipartFile> Files { get; }

    /// <summary>Deletes the files' temporary copies.</summary>
    public void Dispose()
    {
        foreach (var file in Files) file.Dispose();
    }
}

/// <summary>
/// One uploaded file of a <see cref="MultipartForm"/>: in memory when small, else in a temporary file that is deleted
/// when the request ends (or the file or its form is disposed). Read it with <see cref="OpenRead"/>, keep it with
/// <see cref="SaveAsAsync"/>.
/// </summary>
public sealed class MultipartFile : IDisposable
{
    private readonly byte[]? _bytes;
    private readonly TempFile? _temp;

    private MultipartFile(string name, string fileName, HttpHeaders headers, long length, byte[]? bytes, TempFile? temp)
    {
        Name = name;
        FileName = fileName;
        Headers = headers;
        Length = length;
        _bytes = bytes;
        _temp = temp;
    }

    /// <summary>The form field name.</summary>
    public string Name { get; }

    /// <summary>The file name as the client sent it (use <see cref="Path.GetFileName(string)"/> before putting it in a path).</summary>
    public string FileName { get; }

    /// <summary>The part's <c>Content-Type</c>, or null.</summary>
    public string? ContentType => Headers["Content-Type"];

    /// <summary>The part's header fields.</summary>
    public HttpHeaders Headers { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>True when the content was larger than <see cref="MultipartLimits.MemoryThreshold"/> and went to a
    /// temporary file.</summary>
    public bool IsOnDisk => _temp is not null;

    internal string? TempPath => _temp?.Path;

    /// <summary>A new read-only stream over the content.</summary>
    /// <exception cref="ObjectDisposedException">The temporary copy was deleted (the request ended).</exception>
    public Stream OpenRead()
    {
        if (_temp is null) return new MemoryStream(_bytes!, writable: false);
        ObjectDisposedException.ThrowIf(_temp.IsDeleted, this);
        return new FileStream(_temp.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    /// <summary>Copies the content to <paramref name="path"/> (created or overwritten).</summary>
    public async Task SaveAsAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        var source = OpenRead();
        await using (source.ConfigureAwait(false))
        {
            var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            await using (target.ConfigureAwait(false))
                await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes the temporary copy, if any.</summary>
    public void Dispose() => _temp?.Dispose();

    /// <summary>Receives the current part: in memory up to the threshold, then to a temporary file registered for
    /// deletion at the request's end as soon as it exists (so a failed or abandoned read leaves nothing behind).</summary>
    internal static async Task<MultipartFile> ReceiveAsync(MultipartReader reader, HttpRequest request, string name, string fileName,
        HttpHeaders headers, MultipartLimits limits, CancellationToken cancellationToken)
    {
        ArrayBufferWriter<byte>? memory = new();
        TempFile? temp = null;
        FileStream? disk = null;
        long length = 0;
        try
        {
            ReadOnlyMemory<byte> data;
            while (!(data = await reader.ReadAsync().ConfigureAwait(false)).IsEmpty)
            {
                length += data.Length;
                if (disk is null && length > limits.MemoryThreshold)
                {
                    temp = new TempFile(System.IO.Path.Combine(limits.TempDirectory ?? System.IO.Path.GetTempPath(), $"asio2rx-{Guid.NewGuid():N}.part"));
                    request.DisposeOnEnd(temp);
                    disk = new FileStream(temp.Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 1, FileOptions.Asynchronous);
                    await disk.WriteAsync(memory!.WrittenMemory, cancellationToken).ConfigureAwait(false);
                    memory = null;
                }
                if (disk is not null) await disk.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                else memory!.Write(data.Span);
            }
        }
        catch
        {
            temp?.Dispose();
            throw;
        }
        finally
        {
            if (disk is not null) await disk.DisposeAsync().ConfigureAwait(false);
        }
        return new MultipartFile(name, fileName, headers, length, memory?.WrittenSpan.ToArray(), temp);
    }

    /// <summary>A temporary file, deleted once (by whichever comes first: the request's end, the file, the form).</summary>
    internal sealed class TempFile(string path) : IDisposable
    {
        private int _deleted;

        public string Path => path;

        public bool IsDeleted => Volatile.Read(ref _deleted) != 0;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _deleted, 1) != 0) return;
            try { File.Delete(path); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
