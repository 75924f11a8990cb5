using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Asio2.Rx;

/// <summary>
/// Throws for the decoders, kept out of their hot loops: a <c>throw</c> inside a small method blocks inlining
/// and bloats the fast path, so decoders call these instead (the pattern of System.IO.Pipelines' ThrowHelper).
/// Messages give lengths, never the peer's bytes.
/// </summary>
internal static class FramingThrowHelper
{
    /// <summary>A header announced a frame larger than the framing allows.</summary>
    [DoesNotReturn]
    public static void ThrowTooLarge(long announced, int maxFrameSize) => throw CreateTooLarge(announced, maxFrameSize);

    /// <summary>The buffer holds the most bytes a frame may occupy and still no frame ends in it.</summary>
    [DoesNotReturn]
    public static void ThrowNoFrameFits(int maxFrameSize) => throw CreateNoFrameFits(maxFrameSize);

    /// <summary>A length header is malformed.</summary>
    [DoesNotReturn]
    public static void ThrowIllegalHeader(string reason) => throw new FrameException(FrameError.IllegalHeader, reason);

    /// <summary>The bytes can never become a frame.</summary>
    [DoesNotReturn]
    public static void ThrowIllegalData(string reason) => throw new FrameException(FrameError.IllegalData, reason);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FrameException CreateTooLarge(long announced, int maxFrameSize) =>
        new(FrameError.TooLarge, $"a frame of at least {announced} bytes exceeds MaxFrameSize {maxFrameSize}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FrameException CreateNoFrameFits(int maxFrameSize) =>
        new(FrameError.TooLarge, $"no frame ends within MaxFrameSize {maxFrameSize}");
}
