using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// The best plain .NET code for the same job: per connection a <see cref="PipeReader"/> and a <see cref="PipeWriter"/>
/// over the socket's <see cref="NetworkStream"/>; each read is parsed frame by frame (datagram framing), each frame's echo
/// (header + payload) is written into the writer, and the writer is flushed once per read. No Rx, no scheduler, no
/// per-message object: this is what a careful engineer writes by hand.
/// </summary>
internal sealed class PipelinesEchoServer : IAsyncDisposable
{
    private readonly int _bufferSize;
    private readonly LoopbackListener _listener;

    public PipelinesEchoServer(int bufferSize)
    {
        _bufferSize = bufferSize;
        _listener = new LoopbackListener(socket => _ = EchoAsync(socket));
    }

    public int Port => _listener.Port;

    private async Task EchoAsync(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        // The same receive buffer size as the other servers; the pool is the shared one, as in most code.
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: _bufferSize, minimumReadSize: Math.Min(1024, _bufferSize)));
        // Segments as large as a read: the echo of one read then goes out in one write. (With the default 4 KiB
        // segments a flush writes segment by segment: 1 KiB messages cost a send per four of them.)
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: _bufferSize));
        try
        {
            while (true)
            {
                ReadResult read = await reader.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = read.Buffer;
                bool wrote = false;
                while (TryEcho(ref buffer, writer)) wrote = true;
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (wrote)
                {
                    FlushResult flushed = await writer.FlushAsync().ConfigureAwait(false);
                    if (flushed.IsCompleted) break;
                }
                if (read.IsCompleted) break;
            }
        }
        catch (Exception)
        {
            // The load generator closed or reset the connection, or sent a bad header: drop the connection.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Parses one frame at the start of <paramref name="buffer"/> and writes its echo; false when it is incomplete.</summary>
    private static bool TryEcho(ref ReadOnlySequence<byte> buffer, PipeWriter writer)
    {
        Span<byte> header = stackalloc byte[9];
        scoped ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length < 9 && buffer.Length > first.Length)
        {
            // The header straddles two segments: copy what there is of it.
            int have = (int)Math.Min(9, buffer.Length);
            buffer.Slice(0, have).CopyTo(header);
            first = header[..have];
        }
        if (!DatagramHeader.TryRead(first, out int headerLength, out int payload)) return false;
        long frameLength = headerLength + (long)payload;
        if (buffer.Length < frameLength) return false;

        var frame = buffer.Slice(0, frameLength);
        Span<byte> destination = writer.GetSpan((int)frameLength);
        int written = DatagramHeader.Write(destination, payload);
        frame.Slice(headerLength).CopyTo(destination[written..]);
        writer.Advance(written + payload);
        buffer = buffer.Slice(frameLength);
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _listener.Dispose();
        return default;
    }
}
