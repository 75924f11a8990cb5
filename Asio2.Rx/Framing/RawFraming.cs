namespace Asio2.Rx;

/// <summary>
/// Raw chunks: whatever bytes are available form one frame, cut into pieces of at most <see cref="Framing.MaxFrameSize"/>.
/// There are no boundaries to find, so input is never rejected and never truncated.
/// </summary>
internal sealed class RawFraming : Framing
{
    /// <summary>64 KiB: the size of a typical socket read, so a read is usually one frame.</summary>
    internal const int DefaultChunkSize = 64 * 1024;

    internal static readonly RawFraming Default = new(DefaultChunkSize);

    private readonly Decoder _decoder;

    internal RawFraming(int maxChunkSize) : base(maxChunkSize) => _decoder = new Decoder(maxChunkSize);

    internal override int MaxEncodedFrameSize => MaxFrameSize;

    /// <summary>The decoder is stateless, so every connection shares one.</summary>
    internal override FrameDecoder CreateDecoder() => _decoder;

    private sealed class Decoder(int maxChunkSize) : FrameDecoder
    {
        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame) => TakeChunk(buffer.Length, out frame);

        /// <summary>Hands out what is left when the input ends; TryDecode leaves nothing, but a read loop may call this first.</summary>
        public override bool TryDecodeFinal(ReadOnlyMemory<byte> remaining, out FrameBounds frame) => TakeChunk(remaining.Length, out frame);

        private bool TakeChunk(int available, out FrameBounds frame)
        {
            int length = Math.Min(available, maxChunkSize);
            frame = new FrameBounds(length, 0, length);
            return length > 0;
        }
    }
}
