using System.Buffers.Binary;
using System.Diagnostics;

namespace Asio2.Rx;

// The receiving half: input, recv and peeksize (PROTOCOL.md "input(packet)" and "recv(buffer, len)").
internal sealed partial class Kcp
{
    /// <summary>
    /// Feeds one received packet (ikcp_input). Segments are processed in order; a bad segment stops
    /// the loop but keeps what the earlier segments of the packet did.
    /// </summary>
    /// <returns>
    /// 0; −1 when the packet is shorter than 24 bytes or a segment has another conv; −2 when a
    /// segment's len runs past the packet; −3 when its cmd is not 81..84. Trailing bytes shorter
    /// than a header are ignored.
    /// </returns>
    internal int Input(ReadOnlySpan<byte> packet)
    {
        ThrowIfDisposed();
        if (packet.Length < Overhead)
        {
            return -1;
        }

        uint prevUna = _sndUna;
        bool ackSeen = false;
        uint maxAck = 0;
        uint latestTs = 0;

        while (packet.Length >= Overhead)
        {
            // Validate conv, len and cmd, in that order, before anything (rmt_wnd included) is applied.
            if (BinaryPrimitives.ReadUInt32LittleEndian(packet) != Conv)
            {
                return -1;
            }

            byte cmd = packet[4];
            uint frg = packet[5];
            uint wnd = BinaryPrimitives.ReadUInt16LittleEndian(packet[6..]);
            uint ts = BinaryPrimitives.ReadUInt32LittleEndian(packet[8..]);
            uint sn = BinaryPrimitives.ReadUInt32LittleEndian(packet[12..]);
            uint una = BinaryPrimitives.ReadUInt32LittleEndian(packet[16..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(packet[20..]);
            packet = packet[Overhead..];

            if (len > (uint)packet.Length)
            {
                return -2;
            }

            if (cmd is < CmdPush or > CmdWins)
            {
                return -3;
            }

            _rmtWnd = wnd;
            ParseUna(una);

            switch (cmd)
            {
                case CmdAck:
                    // current is the time of the last update; an ACK stamped in the future gives no sample.
                    int rtt = Diff(_current, ts);
                    if (rtt >= 0)
                    {
                        UpdateRtt(rtt);
                    }

                    ParseAck(sn);
                    // The fast-ack candidate moves only to an ACK that is newer in both sn and ts.
                    if (!ackSeen)
                    {
                        ackSeen = true;
                        maxAck = sn;
                        latestTs = ts;
                    }
                    else if (Diff(sn, maxAck) > 0 && Diff(ts, latestTs) > 0)
                    {
                        maxAck = sn;
                        latestTs = ts;
                    }

                    break;

                case CmdPush:
                    // Acked even when below rcv_nxt (a resend whose ACK was lost); stored only if new.
                    if (Diff(sn, _rcvNxt + _rcvWnd) < 0)
                    {
                        PushAck(sn, ts);
                        if (Diff(sn, _rcvNxt) >= 0)
                        {
                            ParseData(sn, frg, packet[..(int)len]);
                        }
                    }

                    break;

                case CmdWask:
                    _probe |= AskTell;
                    break;

                // CmdWins carries nothing beyond the window applied above.
            }

            packet = packet[(int)len..];
        }

        if (ackSeen)
        {
            ParseFastAck(maxAck, latestTs);
        }

        if (Diff(_sndUna, prevUna) > 0 && _cwnd < _rmtWnd)
        {
            GrowCongestionWindow();
        }

        return 0;
    }

    /// <summary>Takes the next message out of the receive queue (ikcp_recv).</summary>
    /// <param name="buffer">Where the message goes; its length is the reference's len (it may be 0).</param>
    /// <returns>
    /// The message length; −1 when nothing is queued; −2 when the head message is still missing
    /// fragments; −3 when <paramref name="buffer"/> is too small (see <see cref="PeekSize"/>).
    /// In stream mode every call returns exactly one segment.
    /// </returns>
    internal int Receive(Span<byte> buffer) => ReceiveCore(buffer, peek: false);

    /// <summary>
    /// Like <see cref="Receive"/> but leaves the message queued (ikcp_recv with a negative len).
    /// Segments waiting in order behind a full queue can still move up, as in the reference.
    /// </summary>
    internal int Peek(Span<byte> buffer) => ReceiveCore(buffer, peek: true);

    /// <summary>
    /// Length of the next message (ikcp_peeksize): −1 when the queue is empty or the head message is
    /// still missing fragments.
    /// </summary>
    internal int PeekSize()
    {
        KcpSegment? segment = _rcvQueue.First;
        if (segment is null)
        {
            return -1;
        }

        if (segment.Frg == 0)
        {
            return segment.Length;
        }

        if (_rcvQueue.Count < segment.Frg + 1)
        {
            return -1;
        }

        int length = 0;
        for (; segment is not null; segment = segment.Next)
        {
            length += segment.Length;
            if (segment.Frg == 0)
            {
                break;
            }
        }

        return length;
    }

    private int ReceiveCore(Span<byte> buffer, bool peek)
    {
        ThrowIfDisposed();
        if (_rcvQueue.Count == 0)
        {
            return -1;
        }

        int peekSize = PeekSize();
        if (peekSize < 0)
        {
            return -2;
        }

        if (peekSize > buffer.Length)
        {
            return -3;
        }

        // A queue that was full advertised wnd 0; tell the peer once it has room again.
        bool recover = (uint)_rcvQueue.Count >= _rcvWnd;

        int length = 0;
        KcpSegment? segment = _rcvQueue.First;
        while (segment is not null)
        {
            segment.Payload.CopyTo(buffer[length..]);
            length += segment.Length;
            uint frg = segment.Frg;
            KcpSegment? next = segment.Next;
            if (!peek)
            {
                _rcvQueue.Remove(segment);
                FreeSegment(segment);
            }

            if (frg == 0)
            {
                break;
            }

            segment = next;
        }

        Debug.Assert(length == peekSize, "peeksize and the copy disagree");
        MoveReadyToQueue();

        if (recover && (uint)_rcvQueue.Count < _rcvWnd)
        {
            _probe |= AskTell;
        }

        return length;
    }

    // Stores a PUSH with rcv_nxt <= sn < rcv_nxt + rcv_wnd unless rcv_buf already has it.
    private void ParseData(uint sn, uint frg, ReadOnlySpan<byte> payload)
    {
        Debug.Assert(Diff(sn, _rcvNxt) >= 0 && Diff(sn, _rcvNxt + _rcvWnd) < 0, "caller checks the window");

        if (FindInsertionPoint(sn, out KcpSegment? anchor))
        {
            KcpSegment segment = NewSegment(payload.Length);
            payload.CopyTo(segment.Data);
            segment.Length = payload.Length;
            segment.Sn = sn;
            segment.Frg = frg;
            _rcvBuf.InsertAfter(anchor, segment);
        }

        // Even after a duplicate: in-order segments may move if the queue has room again.
        MoveReadyToQueue();
    }

    // Where sn goes in rcv_buf (after anchor; null = at the head), or false when it is already there.
    // The reference searches from the tail. rcv_buf is sorted by sn without duplicates, so searching from
    // whichever end is nearer finds the same place; it matters when a resend fills a hole far from the tail.
    private bool FindInsertionPoint(uint sn, out KcpSegment? anchor)
    {
        KcpSegment? first = _rcvBuf.First;
        KcpSegment? last = _rcvBuf.Last;
        if (first is not null && Diff(sn, first.Sn) < Diff(last!.Sn, sn))
        {
            KcpSegment? next = first;
            while (next is not null && Diff(next.Sn, sn) < 0)
            {
                next = next.Next;
            }

            anchor = next is null ? last : next.Prev;
            return next is null || next.Sn != sn;
        }

        for (anchor = last; anchor is not null; anchor = anchor.Prev)
        {
            if (anchor.Sn == sn)
            {
                return false;
            }

            if (Diff(sn, anchor.Sn) > 0)
            {
                break;
            }
        }

        return true;
    }

    // Moves segments from rcv_buf to rcv_queue while they are next in order and the queue has room.
    private void MoveReadyToQueue()
    {
        while (_rcvBuf.First is { } segment && segment.Sn == _rcvNxt && (uint)_rcvQueue.Count < _rcvWnd)
        {
            _rcvBuf.Remove(segment);
            _rcvQueue.AddLast(segment);
            _rcvNxt++;
        }
    }

    private void PushAck(uint sn, uint ts)
    {
        if (2 * _ackCount + 2 > _ackList.Length)
        {
            Array.Resize(ref _ackList, _ackList.Length * 2);
        }

        _ackList[2 * _ackCount] = sn;
        _ackList[2 * _ackCount + 1] = ts;
        _ackCount++;
    }

    // Everything below una has been received by the peer.
    private void ParseUna(uint una)
    {
        while (_sndBuf.First is { } segment && Diff(una, segment.Sn) > 0)
        {
            _sndBuf.Remove(segment);
            _bytesInFlight -= segment.Length;
            FreeSegment(segment);
        }

        ShrinkBuffer();
    }

    // Removes the segment with this sn from snd_buf, if it is there.
    private void ParseAck(uint sn)
    {
        if (Diff(sn, _sndUna) < 0 || Diff(sn, _sndNxt) >= 0)
        {
            return;
        }

        // The reference walks from the head and stops at the first larger sn. snd_buf is sorted by sn
        // without duplicates, so walking from the nearer end finds the same segment; acks usually hit
        // recent segments while lost ones wait at the head.
        KcpSegment? segment;
        if (Diff(sn, _sndUna) <= Diff(_sndNxt, sn))
        {
            for (segment = _sndBuf.First; segment is not null && Diff(segment.Sn, sn) < 0; segment = segment.Next)
            {
            }
        }
        else
        {
            for (segment = _sndBuf.Last; segment is not null && Diff(segment.Sn, sn) > 0; segment = segment.Prev)
            {
            }
        }

        if (segment is not null && segment.Sn == sn)
        {
            _sndBuf.Remove(segment);
            _bytesInFlight -= segment.Length;
            FreeSegment(segment);
        }

        ShrinkBuffer();
    }

    // Segments sent no later than the newest acked one, and skipped by it, count one more fast ack
    // (the reference's IKCP_FASTACK_CONSERVE rule: a later resend of an older segment is not skipped).
    private void ParseFastAck(uint sn, uint ts)
    {
        if (Diff(sn, _sndUna) < 0 || Diff(sn, _sndNxt) >= 0)
        {
            return;
        }

        for (KcpSegment? segment = _sndBuf.First; segment is not null; segment = segment.Next)
        {
            if (Diff(sn, segment.Sn) < 0)
            {
                break;
            }

            if (sn != segment.Sn && Diff(ts, segment.Ts) >= 0)
            {
                segment.FastAck++;
            }
        }
    }

    private void ShrinkBuffer() => _sndUna = _sndBuf.First?.Sn ?? _sndNxt;

    // PROTOCOL.md "RTT estimate"; signed arithmetic as in the reference, delta taken as an absolute value.
    private void UpdateRtt(int rtt)
    {
        RttSamples++;
        if (_rxSrtt == 0)
        {
            _rxSrtt = rtt;
            _rxRttVal = rtt / 2;
        }
        else
        {
            long delta = rtt - _rxSrtt;
            if (delta < 0)
            {
                delta = -delta;
            }

            _rxRttVal = (int)((3 * _rxRttVal + delta) / 4);
            _rxSrtt = Math.Max((7 * _rxSrtt + rtt) / 8, 1);
        }

        // The reference bounds in unsigned arithmetic: rx_srtt + max(interval, 4·rttval) in [minrto, 60000].
        uint rto = (uint)_rxSrtt + Math.Max(_interval, (uint)(4 * _rxRttVal));
        _rxRto = (int)Math.Min(Math.Max((uint)_rxMinRto, rto), RtoMax);
    }

    // Slow start below ssthresh, then congestion avoidance recomputed from incr; capped by rmt_wnd here only.
    private void GrowCongestionWindow()
    {
        uint mss = _mss;
        if (_cwnd < _ssthresh)
        {
            _cwnd++;
            _incr += mss;
        }
        else
        {
            _incr = Math.Max(_incr, mss);
            _incr += mss * mss / _incr + mss / 16;
            if ((_cwnd + 1) * mss <= _incr)
            {
                _cwnd = (_incr + mss - 1) / mss;
            }
        }

        if (_cwnd > _rmtWnd)
        {
            _cwnd = _rmtWnd;
            _incr = _rmtWnd * mss;
        }
    }
}
