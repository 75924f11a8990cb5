namespace Asio2.Rx;

/// <summary>Every frame is exactly <see cref="Framing.MaxFrameSize"/> bytes, so a frame can never be too large.</summary>
internal sealed class FixedSizeFraming : Framing
{
    private readonly Decoder _decoder;

    internal FixedSizeFraming(int size) : base(size) => _decoder = new Decoder(size);

    internal override int MaxEncodedFrameSize => MaxFrameSize;

    /// <summary>The decoder is stateless, so every connection shares one.</summary>
    internal override FrameDecoder CreateDecoder() => _decoder;

    private sealed class Decoder(int size) : FrameDecoder
    {
        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
        {
            bool complete = buffer.Length >= size;
            frame = complete ? new FrameBounds(size, 0, size) : default;
            return complete;
        }
    }
}
