using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Asio2.Rx;

/// <summary>
/// A user-supplied <see cref="FrameMatcher"/> finds the frames. The matcher sees at most <see cref="Framing.MaxFrameSize"/>
/// bytes, and a frame consumes at most that many (header included), so a matcher that keeps asking for more cannot make
/// the buffer grow without bound.
/// </summary>
internal sealed class CustomFraming : Framing
{
    private readonly Func<FrameMatcher> _createMatcher;

    internal CustomFraming(Func<FrameMatcher> createMatcher, int maxFrameSize) : base(maxFrameSize) => _createMatcher = createMatcher;

    internal override int MaxEncodedFrameSize => MaxFrameSize;

    /// <summary>One decoder, with its own matcher from the factory, per connection.</summary>
    internal override FrameDecoder CreateDecoder() => new Decoder(_createMatcher() ?? throw new InvalidOperationException("the matcher factory returned null"), MaxFrameSize);

    private sealed class Decoder(FrameMatcher matcher, int maxFrameSize) : FrameDecoder
    {
        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
        {
            frame = default;
            if (buffer.IsEmpty)
                return false;

            ReadOnlyMemory<byte> window = buffer.Length > maxFrameSize ? buffer[..maxFrameSize] : buffer;
            FrameMatch match = matcher(new ReadOnlySequence<byte>(window));
            switch (match.Kind)
            {
                case FrameMatchKind.Frame:
                    if (match.Consumed > window.Length)
                        ThrowBeyondInput(match.Consumed, window.Length);
                    frame = new FrameBounds(match.Consumed, match.PayloadOffset, match.PayloadLength);
                    return true;
                case FrameMatchKind.Illegal:
                    FramingThrowHelper.ThrowIllegalData("the custom matcher rejected the input");
                    return false;
                default:
                    if (window.Length == maxFrameSize)
                        FramingThrowHelper.ThrowNoFrameFits(maxFrameSize);
                    return false;
            }
        }

        [DoesNotReturn]
        private static void ThrowBeyondInput(int consumed, int available) =>
            throw new InvalidOperationException($"The frame matcher returned a frame of {consumed} bytes but was given only {available}.");
    }
}
