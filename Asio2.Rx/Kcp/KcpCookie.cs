using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Asio2.Rx;

/// <summary>
/// The stateless cookie round of <see cref="KcpHandshakeMode.Cookie"/>: the server answers a SYN with a cookie
/// derived from a secret, the client's address, the SYN's seq and a time slot, and keeps nothing; only a client that
/// can receive at its address can echo it, and only then does the server create a session.
/// </summary>
/// <remarks>
/// <para>Messages are asio2's 12-byte header (same checksum), so the length rules stay as they are:
/// SYN (client, as asio2) → COOKIE (server: flags SYN|URG, seq = cookie, ack = SYN.seq + 1) → ECHO (client: flags
/// SYN|PSH, seq = its SYN's seq, ack = cookie) → SYN-ACK (server, as asio2). The COOKIE is as long as the SYN, so the
/// server never sends more than it received (amplification 1×).</para>
/// <para>A cookie is the first 32 bits of HMAC-SHA256(secret, address bytes ‖ seq ‖ slot), with 10 s slots on the
/// server's scheduler clock; an echo is accepted in its slot and the next, so a cookie lives 10–20 s. The secret is
/// random per server. A cookie from another address or an older slot does not verify.</para>
/// </remarks>
internal sealed class KcpCookie
{
    /// <summary>COOKIE flags: SYN|URG.</summary>
    public const byte CookieFlags = KcpHandshake.Syn | KcpHandshake.Urg;

    /// <summary>ECHO flags: SYN|PSH.</summary>
    public const byte EchoFlags = KcpHandshake.Syn | KcpHandshake.Psh;

    /// <summary>How long one slot lasts.</summary>
    public static readonly TimeSpan Slot = TimeSpan.FromSeconds(10);

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);

    /// <summary>The cookie for <paramref name="address"/> and <paramref name="seq"/> in <paramref name="slot"/>.</summary>
    public uint Compute(SocketAddress address, uint seq, long slot)
    {
        Span<byte> input = stackalloc byte[address.Size + 12];
        address.Buffer.Span[..address.Size].CopyTo(input);
        BinaryPrimitives.WriteUInt32BigEndian(input[address.Size..], seq);
        BinaryPrimitives.WriteInt64BigEndian(input[(address.Size + 4)..], slot);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_secret, input, mac);
        return BinaryPrimitives.ReadUInt32BigEndian(mac);
    }

    /// <summary>The slot <paramref name="now"/> falls in.</summary>
    public static long SlotOf(DateTimeOffset now) => now.UtcTicks / Slot.Ticks;

    /// <summary>True when <paramref name="cookie"/> is the one for this address and seq in the current slot or the one before.</summary>
    public bool Verify(SocketAddress address, uint seq, uint cookie, DateTimeOffset now)
    {
        long slot = SlotOf(now);
        return Compute(address, seq, slot) == cookie || Compute(address, seq, slot - 1) == cookie;
    }

    /// <summary>Writes the server's COOKIE answering a SYN with <paramref name="synSeq"/>.</summary>
    public static void WriteCookie(Span<byte> destination, uint cookie, uint synSeq) =>
        KcpHandshake.Write(destination, cookie, synSeq + 1, CookieFlags);

    /// <summary>Writes the client's ECHO of <paramref name="cookie"/> for its SYN with <paramref name="synSeq"/>.</summary>
    public static void WriteEcho(Span<byte> destination, uint synSeq, uint cookie) =>
        KcpHandshake.Write(destination, synSeq, cookie, EchoFlags);

    /// <summary>True when <paramref name="datagram"/> is a COOKIE answering the SYN with <paramref name="synSeq"/>.</summary>
    public static bool IsCookieFor(ReadOnlySpan<byte> datagram, uint synSeq, out uint cookie)
    {
        cookie = 0;
        if (!KcpHandshake.TryParse(datagram, out var h) || (h.Flags & 0xFC) != CookieFlags || h.Ack != synSeq + 1) return false;
        cookie = h.Seq;
        return true;
    }

    /// <summary>True when <paramref name="datagram"/> is an ECHO; gives its seq and cookie.</summary>
    public static bool IsEcho(ReadOnlySpan<byte> datagram, out uint synSeq, out uint cookie)
    {
        synSeq = cookie = 0;
        if (!KcpHandshake.TryParse(datagram, out var h) || (h.Flags & 0xFC) != EchoFlags) return false;
        synSeq = h.Seq;
        cookie = h.Ack;
        return true;
    }
}
