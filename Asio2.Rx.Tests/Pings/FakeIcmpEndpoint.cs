using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Asio2.Rx;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Pings;

/// <summary>
/// An ICMP endpoint in virtual time: records what is sent and when, and answers each request after the delay
/// <see cref="ReplyDelay"/> gives for its sequence number (null: lost), as an IPv4 raw socket would (with header), or as
/// an IPv6 socket would (without).
/// </summary>
internal sealed class FakeIcmpEndpoint(TestScheduler scheduler, bool ipv6 = false) : IIcmpEndpoint
{
    private IIcmpReceiver? _receiver;

    public const byte ReplyTtl = 57;

    /// <summary>Delay of the reply to each wire sequence number; null loses it. Defaults to 10 ms for every request.</summary>
    public Func<ushort, TimeSpan?> ReplyDelay { get; init; } = _ => TimeSpan.FromMilliseconds(10);

    /// <summary>When set, replies carry this identifier instead of the request's, as a kernel that assigns identifiers does.</summary>
    public ushort? ReplyIdentifier { get; init; }

    /// <summary>Sequence numbers whose send the "system" refuses.</summary>
    public Func<ushort, bool> RefuseSend { get; init; } = _ => false;

    public bool AssignsIdentifier { get; init; }

    /// <summary>Each request: virtual time, identifier, sequence and the bytes sent.</summary>
    public List<(long Time, ushort Identifier, ushort Sequence, byte[] Message)> Sent { get; } = [];

    public bool Disposed { get; private set; }

    public void Start(IIcmpReceiver receiver) => _receiver = receiver;

    public void Send(ReadOnlySpan<byte> message)
    {
        Assert.False(Disposed, "sent after the endpoint was closed");
        ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        ushort sequence = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        if (RefuseSend(sequence)) throw new SocketException((int)SocketError.NetworkUnreachable);
        Sent.Add((scheduler.Clock, identifier, sequence, message.ToArray()));

        if (ReplyDelay(sequence) is TimeSpan delay)
        {
            byte[] reply = IcmpPackets.Echo(ipv6 ? IcmpCodec.EchoReplyV6 : IcmpCodec.EchoReplyV4, ReplyIdentifier ?? identifier, sequence, message[8..], ipv6);
            DeliverAfter(delay, ipv6 ? reply : IcmpPackets.WithIPv4Header(reply, ReplyTtl));
        }
    }

    /// <summary>Delivers <paramref name="packet"/> to the ping after <paramref name="delay"/> of virtual time, unless closed by then.</summary>
    public void DeliverAfter(TimeSpan delay, byte[] packet) =>
        scheduler.ScheduleRelative(0, delay.Ticks, (_, _) =>
        {
            if (!Disposed) _receiver!.OnReceived(packet, IcmpPackets.Peer);
            return System.Reactive.Disposables.Disposable.Empty;
        });

    /// <summary>Makes the socket fail at <paramref name="time"/>.</summary>
    public void FailAt(long time, Exception error) =>
        scheduler.ScheduleAbsolute(0, time, (_, _) =>
        {
            _receiver!.OnReceiveError(error);
            return System.Reactive.Disposables.Disposable.Empty;
        });

    public void Dispose() => Disposed = true;
}
