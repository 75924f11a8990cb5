using System.Net;
using System.Text;

namespace Asio2.Rx;

/// <summary>One datagram received by a <see cref="UdpEndpoint"/>: who sent it, and its bytes.</summary>
/// <remarks>The bytes are the datagram's own array, never reused: the value may be kept.</remarks>
public readonly struct Datagram
{
    /// <summary>Creates a datagram.</summary>
    public Datagram(IPEndPoint remoteEndPoint, ReadOnlyMemory<byte> data)
    {
        RemoteEndPoint = remoteEndPoint;
        Data = data;
    }

    /// <summary>The sender; reply with <c>endpoint.SendTo(datagram.RemoteEndPoint, ...)</c>.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The payload as a span.</summary>
    public ReadOnlySpan<byte> Span => Data.Span;

    /// <summary>Payload length in bytes.</summary>
    public int Length => Data.Length;

    /// <summary>The payload decoded as UTF-8. Allocates a string on each call.</summary>
    public string Text => Encoding.UTF8.GetString(Data.Span);

    /// <inheritdoc/>
    public override string ToString() => $"Datagram({Length} bytes from {RemoteEndPoint})";
}
