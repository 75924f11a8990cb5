using System.Buffers.Binary;
using System.Net;

namespace Asio2.Rx;

/// <summary>
/// Raw-conv mode (<see cref="KcpHandshakeMode.None"/>): what a server needs to take plain ikcp traffic with no
/// handshake. Sessions are keyed by remote endpoint and conv; the first datagram of a new pair opens one only if it
/// is well-formed KCP.
/// </summary>
internal static class KcpRawConv
{
    /// <summary>The conv a datagram is for: its first segment's (ikcp reads each segment's and rejects a mismatch).</summary>
    public static uint ReadConv(ReadOnlySpan<byte> datagram) => BinaryPrimitives.ReadUInt32LittleEndian(datagram);

    /// <summary>
    /// True when <paramref name="datagram"/> is one or more whole KCP segments of <paramref name="conv"/> with known
    /// commands, as <see cref="Kcp.Input"/> would take them all (trailing bytes shorter than a header are ignored, as
    /// ikcp does). Only such a datagram may open a raw-conv session.
    /// </summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> datagram, uint conv)
    {
        if (datagram.Length < Kcp.Overhead) return false;
        while (datagram.Length >= Kcp.Overhead)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(datagram) != conv) return false;
            byte cmd = datagram[4];
            if (cmd is < Kcp.CmdPush or > Kcp.CmdWins) return false;
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(datagram[20..]);
            if (length > (uint)(datagram.Length - Kcp.Overhead)) return false;
            datagram = datagram[(Kcp.Overhead + (int)length)..];
        }
        return true;
    }

    /// <summary>True when <paramref name="key"/> can hold the key of <paramref name="source"/> (see <see cref="Fill"/>).</summary>
    public static bool Fits(SocketAddress? key, SocketAddress source) => key is not null && key.Size == source.Size + sizeof(uint);

    /// <summary>
    /// A lookup key for (source, conv): the address bytes followed by the conv, in a new key when <paramref name="key"/>
    /// does not fit. Keys compare equal as <see cref="SocketAddress"/>es, so a server's endpoint table holds raw-conv
    /// sessions unchanged. (A SocketAddress compares its whole buffer, so a key's buffer is exactly its size.)
    /// </summary>
    public static SocketAddress Fill(SocketAddress? key, SocketAddress source, uint conv)
    {
        if (!Fits(key, source)) key = new SocketAddress(source.Family, source.Size + sizeof(uint));
        var bytes = key!.Buffer.Span;
        source.Buffer.Span[..source.Size].CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[source.Size..], conv);
        return key;
    }
}
