using System.Buffers;
using System.Diagnostics;

namespace Asio2.Rx;

/// <summary>
/// One KCP segment held by an endpoint: a node of exactly one of its four queues
/// (PROTOCOL.md "State of one endpoint"). Instances are pooled by <see cref="Kcp"/>;
/// the payload lives in an <see cref="ArrayPool{T}"/> array that is returned when the segment is.
/// </summary>
/// <remarks>
/// Only the fields that vary per segment are stored: conv and cmd are the endpoint's on every
/// segment it queues, and wnd and una are stamped from the flush template when the segment is written.
/// </remarks>
internal sealed class KcpSegment
{
    internal KcpSegment? Prev;
    internal KcpSegment? Next;
    internal uint Sn;
    internal uint Frg;
    internal uint Ts;
    internal uint ResendTs;
    internal uint Rto;
    internal uint FastAck;
    internal uint Xmit;
    internal int Length;
    internal byte[] Data = [];

    /// <summary>The payload bytes.</summary>
    internal Span<byte> Payload => Data.AsSpan(0, Length);

    /// <summary>Makes room for <paramref name="capacity"/> payload bytes, keeping the first <see cref="Length"/>.</summary>
    internal void EnsureCapacity(int capacity)
    {
        if (Data.Length >= capacity)
        {
            return;
        }

        byte[] bigger = ArrayPool<byte>.Shared.Rent(capacity);
        Data.AsSpan(0, Length).CopyTo(bigger);
        if (Data.Length != 0)
        {
            ArrayPool<byte>.Shared.Return(Data);
        }

        Data = bigger;
    }

    /// <summary>Gives the payload array back to the pool.</summary>
    internal void ReturnData()
    {
        if (Data.Length != 0)
        {
            ArrayPool<byte>.Shared.Return(Data);
            Data = [];
        }

        Length = 0;
    }
}

/// <summary>
/// An intrusive doubly linked list of <see cref="KcpSegment"/>, the counterpart of ikcp's
/// <c>IQUEUEHEAD</c>: O(1) append, removal and insertion after a node, walked in order (or from the
/// tail) the way the reference walks its queues.
/// </summary>
internal sealed class KcpSegmentList
{
    private KcpSegment? _first;
    private KcpSegment? _last;

    /// <summary>Number of segments in the list (ikcp's nsnd_que, nsnd_buf, nrcv_buf, nrcv_que).</summary>
    internal int Count { get; private set; }

    /// <summary>The head, or null when empty.</summary>
    internal KcpSegment? First => _first;

    /// <summary>The tail, or null when empty.</summary>
    internal KcpSegment? Last => _last;

    /// <summary>Appends <paramref name="segment"/> at the tail.</summary>
    internal void AddLast(KcpSegment segment) => InsertAfter(_last, segment);

    /// <summary>Inserts <paramref name="segment"/> after <paramref name="anchor"/>, or at the head when it is null.</summary>
    internal void InsertAfter(KcpSegment? anchor, KcpSegment segment)
    {
        Debug.Assert(segment.Prev is null && segment.Next is null, "segment already linked");
        KcpSegment? next = anchor is null ? _first : anchor.Next;
        segment.Prev = anchor;
        segment.Next = next;
        if (anchor is null)
        {
            _first = segment;
        }
        else
        {
            anchor.Next = segment;
        }

        if (next is null)
        {
            _last = segment;
        }
        else
        {
            next.Prev = segment;
        }

        Count++;
    }

    /// <summary>Unlinks <paramref name="segment"/>, which must be in this list.</summary>
    internal void Remove(KcpSegment segment)
    {
        if (segment.Prev is null)
        {
            _first = segment.Next;
        }
        else
        {
            segment.Prev.Next = segment.Next;
        }

        if (segment.Next is null)
        {
            _last = segment.Prev;
        }
        else
        {
            segment.Next.Prev = segment.Prev;
        }

        segment.Prev = null;
        segment.Next = null;
        Count--;
    }
}
