using System.Text;

namespace Asio2.Rx;

/// <summary>What a message holds, for transports whose messages say so (WebSocket text and binary messages).
/// Stream transports, UDP and KCP deliver <see cref="Binary"/> and ignore the kind on send.</summary>
public enum FrameKind : byte
{
    /// <summary>Bytes (the default).</summary>
    Binary,
    /// <summary>UTF-8 text.</summary>
    Text,
}

/// <summary>
/// One received frame: an immutable slice of bytes and the session it came from.
/// </summary>
/// <remarks>
/// The bytes are never reused by the library, so a frame may be kept, buffered, delayed or moved to
/// another thread (design invariant 5). Frames parsed from one socket read share one array.
/// </remarks>
public readonly struct Frame
{
    /// <summary>Creates a <see cref="FrameKind.Binary"/> frame.</summary>
    public Frame(Session session, ReadOnlyMemory<byte> data)
    {
        Session = session;
        Data = data;
    }

    /// <summary>Creates a frame of the given kind.</summary>
    public Frame(Session session, ReadOnlyMemory<byte> data, FrameKind kind)
    {
        Session = session;
        Data = data;
        Kind = kind;
    }

    /// <summary>The session the frame arrived on; reply with <c>frame.Session.Send(...)</c>.</summary>
    public Session Session { get; }

    /// <summary>What the message holds, when the transport says (WebSocket); <see cref="FrameKind.Binary"/> otherwise.</summary>
    public FrameKind Kind { get; }

    /// <summary>The payload (framing header and, unless kept, delimiter removed).</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The payload as a span.</summary>
    public ReadOnlySpan<byte> Span => Data.Span;

    /// <summary>Payload length in bytes.</summary>
    public int Length => Data.Length;

    /// <summary>The payload decoded as UTF-8. Allocates a string on each call.</summary>
    public string Text => Encoding.UTF8.GetString(Data.Span);

    /// <inheritdoc/>
    public override string ToString() => $"Frame({Length} bytes from session {Session?.Id})";
}
