namespace Asio2.Rx;

/// <summary>
/// Limits on what one <c>multipart/form-data</c> body may cost, for <see cref="HttpMultipart.ReadMultipart"/> and
/// <see cref="HttpMultipart.ReadMultipartFormAsync"/>. The defaults are ASP.NET Core's form limits. Crossing one fails
/// the read with an <see cref="HttpRejectedException"/> whose reason names the limit (413); a handler that lets it
/// escape answers with that status. The server's <see cref="HttpLimits.MaxRequestBodySize"/> still applies first.
/// </summary>
public sealed class MultipartLimits
{
    private int _maxParts = 1024;
    private int _maxPartHeadersSize = 16 * 1024;
    private long _maxPartSize = 128L * 1024 * 1024;
    private int _maxFieldSize = 4 * 1024 * 1024;
    private long _maxBodySize = 128L * 1024 * 1024;
    private int _memoryThreshold = 64 * 1024;

    /// <summary>Most parts in one body. More: <see cref="HttpRejection.MultipartTooManyParts"/>. Defaults to 1024
    /// (ASP.NET's value count limit).</summary>
    public int MaxParts
    {
        get => _maxParts;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1); _maxParts = value; }
    }

    /// <summary>Most bytes of one part's header section, its blank line included. More:
    /// <see cref="HttpRejection.MultipartHeadersTooLarge"/>. Defaults to 16 KiB; it is also what the reader may buffer
    /// while a part's headers arrive.</summary>
    public int MaxPartHeadersSize
    {
        get => _maxPartHeadersSize;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 16); _maxPartHeadersSize = value; }
    }

    /// <summary>Largest body of one part. Larger: <see cref="HttpRejection.MultipartPartTooLarge"/>. Defaults to 128 MiB.</summary>
    public long MaxPartSize
    {
        get => _maxPartSize;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _maxPartSize = value; }
    }

    /// <summary>Largest form field (a part without a file name), which <see cref="HttpMultipart.ReadMultipartFormAsync"/>
    /// keeps in memory as text. Larger: <see cref="HttpRejection.MultipartPartTooLarge"/>. Defaults to 4 MiB.</summary>
    public int MaxFieldSize
    {
        get => _maxFieldSize;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _maxFieldSize = value; }
    }

    /// <summary>Largest whole multipart body (preamble and epilogue included). Larger:
    /// <see cref="HttpRejection.MultipartBodyTooLarge"/>. Defaults to 128 MiB.</summary>
    public long MaxBodySize
    {
        get => _maxBodySize;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _maxBodySize = value; }
    }

    /// <summary>A file part up to this size stays in memory in <see cref="HttpMultipart.ReadMultipartFormAsync"/>;
    /// a larger one is written to a temporary file, deleted when the request ends. Defaults to 64 KiB. 0 sends every
    /// file to disk.</summary>
    public int MemoryThreshold
    {
        get => _memoryThreshold;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _memoryThreshold = value; }
    }

    /// <summary>Where spilled file parts go. Defaults to null: <see cref="Path.GetTempPath"/>.</summary>
    public string? TempDirectory { get; set; }
}
