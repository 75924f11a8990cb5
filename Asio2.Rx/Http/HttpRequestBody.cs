using System.Reactive.Linq;
using System.Threading.Channels;

namespace Asio2.Rx;

/// <summary>
/// A request body as it arrives: read it once, as an observable of pieces (<see cref="Chunks"/>), a
/// <see cref="Stream"/> (<see cref="AsStream"/>), or whole with a size limit (<see cref="ReadAllAsync"/>).
/// </summary>
/// <remarks>
/// Pieces are slices of immutable receive buffers, safe to keep. While pieces wait unread beyond 64 KiB the connection
/// stops reading (receive back-pressure, so a slow consumer never makes the server buffer a whole body). A body the
/// application does not read is discarded after the response. The body ends with an error when it cannot complete:
/// <see cref="HttpRejectedException"/> for a malformed or oversize body, <see cref="SessionClosedException"/> (with the
/// close reason) when the client disconnected mid-body.
/// </remarks>
public sealed class HttpRequestBody
{
    internal const int HighWater = 64 * 1024;

    // Synchronous continuations: a reader waiting for the next piece resumes inline when the connection pushes it, on
    // the session's scheduler, so a handler that awaits its body keeps running there (no thread hop per piece).
    private readonly Channel<ReadOnlyMemory<byte>> _pieces;
    // Most requests have no body: they share one completed channel instead of each making one (a channel is ~0.5 KB).
    private static readonly Channel<ReadOnlyMemory<byte>> s_noPieces = CreateCompletedChannel();
    private readonly IHttpBodyOwner? _owner;
    private readonly Lock _pressureGate = new();
    private long _pending;
    private bool _held; // reading is held for this body; changed under _pressureGate
    private long _received;
    private int _reading;
    private volatile bool _complete;
    private volatile bool _discarding;

    internal HttpRequestBody(IHttpBodyOwner? owner, bool empty)
    {
        _owner = owner;
        if (empty)
        {
            _complete = true;
            _pieces = s_noPieces;
        }
        else
        {
            _pieces = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(
                new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });
        }
    }

    private static Channel<ReadOnlyMemory<byte>> CreateCompletedChannel()
    {
        var channel = Channel.CreateUnbounded<ReadOnlyMemory<byte>>();
        channel.Writer.TryComplete();
        return channel;
    }

    /// <summary>True when the whole body has arrived (always true for a request without a body).</summary>
    public bool IsComplete => _complete;

    /// <summary>Body bytes received so far.</summary>
    public long BytesReceived => Interlocked.Read(ref _received);

    internal bool IsBeingRead => Volatile.Read(ref _reading) != 0;

    internal long Pending => Interlocked.Read(ref _pending);

    /// <summary>The body's pieces, in order, then completion. Cold, one subscription: the first subscriber gets every
    /// piece (those that arrived earlier too); a second subscription fails with <see cref="InvalidOperationException"/>.</summary>
    public IObservable<ReadOnlyMemory<byte>> Chunks => Observable.Create<ReadOnlyMemory<byte>>(async (observer, ct) =>
    {
        BeginRead();
        var reader = _pieces.Reader;
        while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            while (reader.TryRead(out var piece))
            {
                Consumed(piece.Length);
                observer.OnNext(piece);
            }
        observer.OnCompleted();
    });

    /// <summary>Reads the whole body into one array; fails with <see cref="HttpRejectedException"/>
    /// (<see cref="HttpRejection.BodyTooLarge"/>, 413 when a handler lets it escape) as soon as it passes
    /// <paramref name="maxBytes"/>, and the rest of the body is discarded as it arrives.</summary>
    public async Task<byte[]> ReadAllAsync(int maxBytes = 1024 * 1024, CancellationToken cancellationToken = default)
    {
        BeginRead();
        var buffer = new MemoryStream();
        var reader = _pieces.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            while (reader.TryRead(out var piece))
            {
                Consumed(piece.Length);
                if (buffer.Length + piece.Length > maxBytes)
                {
                    StopReading(); // the rest is dropped as it comes, so the connection reads on to the next request
                    throw new HttpRejectedException(HttpRejection.BodyTooLarge, $"the body exceeds {maxBytes} bytes");
                }
                buffer.Write(piece.Span);
            }
        return buffer.ToArray();
    }

    /// <summary>Reads the whole body as UTF-8 text (at most <paramref name="maxBytes"/> bytes).</summary>
    public async Task<string> ReadTextAsync(int maxBytes = 1024 * 1024, CancellationToken cancellationToken = default) =>
        System.Text.Encoding.UTF8.GetString(await ReadAllAsync(maxBytes, cancellationToken).ConfigureAwait(false));

    /// <summary>The body as a read-only stream (for parsers that want one); read it once.</summary>
    public Stream AsStream()
    {
        BeginRead();
        return new PieceStream(this);
    }

    /// <summary>The pieces as they are (no copy), for readers inside the library (multipart). Read once.</summary>
    internal async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadPiecesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        BeginRead();
        var reader = _pieces.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            while (reader.TryRead(out var piece))
            {
                Consumed(piece.Length);
                yield return piece;
            }
    }

    /// <summary>The reader gave up before the end (a multipart limit crossed, a consumer gone): drop what waits and
    /// what still comes, so the connection reads on to the next request. Called by the reader, never concurrently
    /// with its own reads.</summary>
    internal void StopReading()
    {
        _discarding = true;
        while (_pieces.Reader.TryRead(out var piece)) Consumed(piece.Length);
    }

    private void BeginRead()
    {
        if (Interlocked.Exchange(ref _reading, 1) != 0) throw new InvalidOperationException("The request body is read once.");
        _owner?.BodyReadStarted(this);
    }

    private void Consumed(int n)
    {
        Interlocked.Add(ref _pending, -n);
        if (Volatile.Read(ref _held)) UpdatePressure();
    }

    /// <summary>Holds the connection's reading once unread pieces pass the high water mark and releases it at the low
    /// one. The connection pushes and the reader consumes on different threads: the transitions are serialized and
    /// re-checked after each, so the hold always ends up matching the bytes still unread (a release can never be lost
    /// to a hold taken just after the reader took the last piece).</summary>
    private void UpdatePressure()
    {
        lock (_pressureGate)
        {
            while (true)
            {
                long pending = Interlocked.Read(ref _pending);
                if (!_held && pending > HighWater)
                {
                    Volatile.Write(ref _held, true);
                    _owner?.BodyPressure(this, true);
                }
                else if (_held && pending <= HighWater / 2)
                {
                    Volatile.Write(ref _held, false);
                    _owner?.BodyPressure(this, false);
                }
                else return;
            }
        }
    }

    // Called by the connection, on the session's scheduler.
    internal void Push(ReadOnlyMemory<byte> piece)
    {
        Interlocked.Add(ref _received, piece.Length);
        if (_discarding || piece.IsEmpty) return;
        long pending = Interlocked.Add(ref _pending, piece.Length);
        _pieces.Writer.TryWrite(piece);
        if (pending > HighWater) UpdatePressure();
    }

    internal void Complete()
    {
        _complete = true;
        _pieces.Writer.TryComplete();
    }

    internal void Fail(Exception error)
    {
        if (_complete) return;
        _complete = true;
        _pieces.Writer.TryComplete(error);
    }

    /// <summary>The response is done and nobody reads the body: drop what waits and what still comes.</summary>
    internal void Discard()
    {
        if (_discarding) return;
        _discarding = true;
        if (IsBeingRead) return;
        while (_pieces.Reader.TryRead(out _)) { }
        Interlocked.Exchange(ref _pending, 0);
        UpdatePressure();
    }

    private sealed class PieceStream(HttpRequestBody body) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _current;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty) return 0;
            while (_current.IsEmpty)
            {
                var reader = body._pieces.Reader;
                if (reader.TryRead(out var piece))
                {
                    body.Consumed(piece.Length);
                    _current = piece;
                    continue;
                }
                if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) return 0;
            }
            int n = Math.Min(buffer.Length, _current.Length);
            _current[..n].CopyTo(buffer);
            _current = _current[n..];
            return n;
        }
    }
}

/// <summary>The connection side of a body: told when reading starts (100-continue) and when pieces pile up (hold reading).</summary>
internal interface IHttpBodyOwner
{
    void BodyReadStarted(HttpRequestBody body);
    void BodyPressure(HttpRequestBody body, bool hold);
}
