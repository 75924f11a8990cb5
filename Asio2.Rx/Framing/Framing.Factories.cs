using System.Buffers;

namespace Asio2.Rx;

// STUBS: the framing helper replaces these bodies with real decoders (one file per framing).
public abstract partial class Framing
{
    /// <summary>Raw chunks (the default): bytes as they arrive, one frame per read, at most 64 KiB each. asio2's <c>transfer_at_least(1)</c>.</summary>
    public static Framing Raw => throw new NotImplementedException();

    /// <summary>Raw chunks of at most <paramref name="maxChunkSize"/> bytes.</summary>
    public static Framing RawChunks(int maxChunkSize) => throw new NotImplementedException();

    /// <summary>Frames end with <paramref name="delimiter"/>.</summary>
    public static Framing Delimiter(byte delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();

    /// <summary>Frames end with the UTF-8 bytes of <paramref name="delimiter"/>.</summary>
    public static Framing Delimiter(char delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();

    /// <summary>Frames end with the UTF-8 bytes of <paramref name="delimiter"/> (e.g. <c>"\r\n"</c>).</summary>
    public static Framing Delimiter(string delimiter, bool keepDelimiter = false, int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();

    /// <summary>Every frame is exactly <paramref name="size"/> bytes. asio2's <c>transfer_exactly(n)</c>.</summary>
    public static Framing FixedSize(int size) => throw new NotImplementedException();

    /// <summary>asio2's <c>use_dgram</c> length-prefixed framing (1, 1+2 or 1+8 byte little-endian header, shortest form).</summary>
    public static Framing Datagram(int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();

    /// <summary>A length field of <paramref name="lengthSize"/> bytes (1, 2, 3, 4 or 8).</summary>
    public static Framing LengthField(int lengthSize, LengthFieldOptions? options = null) => throw new NotImplementedException();

    /// <summary>One complete MessagePack value per frame.</summary>
    public static Framing MessagePackObject(int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();

    /// <summary>A user-supplied matcher decides where frames end (asio2's <c>match_role</c>).</summary>
    public static Framing Custom(FrameMatcher matcher, int maxFrameSize = DefaultMaxFrameSize) => throw new NotImplementedException();
}

/// <summary>Settings of <see cref="Framing.LengthField(int, LengthFieldOptions?)"/>.</summary>
public sealed class LengthFieldOptions
{
}

/// <summary>Decides whether <paramref name="buffer"/> starts with a complete frame.</summary>
public delegate FrameMatch FrameMatcher(ReadOnlySequence<byte> buffer);

/// <summary>The answer of a <see cref="FrameMatcher"/>.</summary>
public readonly struct FrameMatch
{
}
