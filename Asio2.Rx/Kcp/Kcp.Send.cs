using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;

namespace Asio2.Rx;

// The sending half: send, update, flush and check (PROTOCOL.md "send" and "update(now) and flush()").
internal sealed partial class Kcp
{
    /// <summary>
    /// Queues one message (ikcp_send), cut into segments of up to <see cref="Mss"/> bytes. Nothing is
    /// sent before the next <see cref="Update"/> or <see cref="Flush"/>.
    /// </summary>
    /// <returns>
    /// The bytes queued; or −2 when the message would need 128 fragments or more (in stream mode, the
    /// bytes already appended to the open tail segment if any, else −2). A zero-length message is a
    /// zero-length segment in message mode and queues nothing in stream mode.
    /// </returns>
    /// <remarks>ikcp's −1 for a negative length cannot happen with a span.</remarks>
    internal int Send(ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        int sent = 0;
        int mss = (int)_mss;

        if (StreamMode)
        {
            // Fill the open tail segment first; the queue count does not change.
            if (_sndQueue.Last is { } tail && tail.Length < mss)
            {
                int extend = Math.Min(data.Length, mss - tail.Length);
                tail.EnsureCapacity(tail.Length + extend);
                data[..extend].CopyTo(tail.Data.AsSpan(tail.Length));
                tail.Length += extend;
                data = data[extend..];
                sent = extend;
            }

            // Every zero-length write ends here, whatever the queue holds.
            if (data.IsEmpty)
            {
                return sent;
            }
        }

        int count = data.Length <= mss ? 1 : (data.Length + mss - 1) / mss;
        if (count >= FragmentLimit)
        {
            return StreamMode && sent > 0 ? sent : -2;
        }

        for (int i = 0; i < count; i++)
        {
            int size = Math.Min(data.Length, mss);
            KcpSegment segment = NewSegment(size);
            data[..size].CopyTo(segment.Data);
            segment.Length = size;
            segment.Frg = StreamMode ? 0 : (uint)(count - i - 1);
            _sndQueue.AddLast(segment);
            data = data[size..];
            sent += size;
        }

        return sent;
    }

    /// <summary>
    /// Advances the clock to <paramref name="current"/> (ms) and flushes when the interval has come
    /// (ikcp_update). Call it at the time <see cref="Check"/> returns, or every interval.
    /// </summary>
    internal void Update(uint current)
    {
        ThrowIfDisposed();
        _current = current;
        if (!_updated)
        {
            _updated = true;
            _tsFlush = current;
        }

        // A flush time more than 10 s away either way means the clock jumped: resynchronise.
        int slap = Diff(current, _tsFlush);
        if (slap >= 10_000 || slap < -10_000)
        {
            _tsFlush = current;
            slap = 0;
        }

        if (slap >= 0)
        {
            _tsFlush += _interval;
            if (Diff(current, _tsFlush) >= 0)
            {
                _tsFlush = current + _interval;
            }

            Flush();
        }
    }

    /// <summary>
    /// When <see cref="Update"/> should next be called (ikcp_check): <paramref name="current"/> if it is
    /// due now, else the earlier of the next flush and the next retransmission, at most one interval ahead.
    /// </summary>
    internal uint Check(uint current)
    {
        if (!_updated)
        {
            return current;
        }

        uint tsFlush = _tsFlush;
        int slap = Diff(current, tsFlush);
        if (slap >= 10_000 || slap < -10_000)
        {
            tsFlush = current;
        }

        if (Diff(current, tsFlush) >= 0)
        {
            return current;
        }

        int untilFlush = Diff(tsFlush, current);
        int untilResend = int.MaxValue;
        for (KcpSegment? segment = _sndBuf.First; segment is not null; segment = segment.Next)
        {
            int diff = Diff(segment.ResendTs, current);
            if (diff <= 0)
            {
                return current;
            }

            untilResend = Math.Min(untilResend, diff);
        }

        uint minimal = (uint)Math.Min(untilResend, untilFlush);
        return current + Math.Min(minimal, _interval);
    }

    /// <summary>
    /// Sends what is due at the time of the last <see cref="Update"/> (ikcp_flush): acknowledgements,
    /// window probes, new segments the window allows, timeouts and fast resends, packed into packets of
    /// at most <see cref="Mtu"/> bytes. Does nothing before the first <see cref="Update"/>.
    /// </summary>
    internal void Flush()
    {
        ThrowIfDisposed();
        if (!_updated)
        {
            return;
        }

        uint current = _current;
        // The lost-segment rule halves the cwnd field as it was here (PROTOCOL.md flush step 9).
        uint cwndAtStart = _cwnd;
        uint wnd = WindowUnused();
        int size = 0;

        // Step 2: acknowledgements. WASK/WINS below reuse the last ack's sn and ts.
        uint templateSn = 0;
        uint templateTs = 0;
        for (int i = 0; i < _ackCount; i++)
        {
            templateSn = _ackList[2 * i];
            templateTs = _ackList[2 * i + 1];
            size = Append(size, CmdAck, 0, wnd, templateTs, templateSn, []);
        }

        _ackCount = 0;

        UpdateProbe(current);
        if ((_probe & AskSend) != 0)
        {
            size = Append(size, CmdWask, 0, wnd, templateTs, templateSn, []);
        }

        if ((_probe & AskTell) != 0)
        {
            size = Append(size, CmdWins, 0, wnd, templateTs, templateSn, []);
        }

        _probe = 0;

        // Step 6: move what the window allows from snd_queue to snd_buf.
        uint window = Math.Min(_sndWnd, _rmtWnd);
        if (!_noCwnd)
        {
            window = Math.Min(_cwnd, window);
        }

        while (Diff(_sndNxt, _sndUna + window) < 0 && _sndQueue.First is { } queued)
        {
            _sndQueue.Remove(queued);
            _sndBuf.AddLast(queued);
            _bytesInFlight += queued.Length;
            queued.Ts = current;
            queued.Sn = _sndNxt++;
            queued.ResendTs = current;
            queued.Rto = (uint)_rxRto;
            queued.FastAck = 0;
            queued.Xmit = 0;
        }

        // Steps 7 and 8: decide per segment, in sn order.
        uint resent = _fastResend > 0 ? (uint)_fastResend : uint.MaxValue;
        uint rtoMin = _nodelay == 0 ? (uint)(_rxRto >> 3) : 0;
        bool change = false;
        bool lost = false;
        for (KcpSegment? segment = _sndBuf.First; segment is not null; segment = segment.Next)
        {
            if (segment.Xmit == 0)
            {
                segment.Xmit = 1;
                segment.Rto = (uint)_rxRto;
                segment.ResendTs = current + segment.Rto + rtoMin;
            }
            else if (Diff(current, segment.ResendTs) >= 0)
            {
                segment.Xmit++;
                _xmit++;
                if (_nodelay == 0)
                {
                    // A segment's rto doubles without bound; only rx_rto is capped.
                    segment.Rto += Math.Max(segment.Rto, (uint)_rxRto);
                }
                else
                {
                    int step = _nodelay < 2 ? (int)segment.Rto : _rxRto;
                    segment.Rto += (uint)(step / 2);
                }

                segment.ResendTs = current + segment.Rto;
                lost = true;
                TimeoutRetransmitsTotal++;
            }
            else if (segment.FastAck >= resent && ((int)segment.Xmit <= FastLimit || FastLimit <= 0))
            {
                segment.Xmit++;
                segment.FastAck = 0;
                segment.ResendTs = current + segment.Rto;
                change = true;
                FastRetransmitsTotal++;
            }
            else
            {
                continue;
            }

            segment.Ts = current;
            size = Append(size, CmdPush, segment.Frg, wnd, segment.Ts, segment.Sn, segment.Payload);
            SegmentsSentTotal++;

            if (segment.Xmit >= DeadLink)
            {
                State = uint.MaxValue;
            }
        }

        if (size > 0)
        {
            _output(_buffer.AsSpan(0, size), _outputState);
        }

        // Step 9: congestion response.
        if (change)
        {
            uint inflight = _sndNxt - _sndUna;
            _ssthresh = Math.Max(inflight / 2, ThreshMin);
            _cwnd = _ssthresh + resent;
            _incr = _cwnd * _mss;
        }

        if (lost)
        {
            _ssthresh = Math.Max(cwndAtStart / 2, ThreshMin);
            _cwnd = 1;
            _incr = _mss;
        }

        if (_cwnd < 1)
        {
            _cwnd = 1;
            _incr = _mss;
        }
    }

    // Step 3: schedule a window probe while the peer advertises a closed window.
    private void UpdateProbe(uint current)
    {
        if (_rmtWnd != 0)
        {
            _tsProbe = 0;
            _probeWait = 0;
            return;
        }

        if (_probeWait == 0)
        {
            _probeWait = ProbeInit;
            _tsProbe = current + _probeWait;
        }
        else if (Diff(current, _tsProbe) >= 0)
        {
            _probeWait = Math.Max(_probeWait, ProbeInit);
            _probeWait = Math.Min(_probeWait + _probeWait / 2, ProbeLimit);
            _tsProbe = current + _probeWait;
            _probe |= AskSend;
        }
    }

    // Free receive window to advertise: rcv_wnd − |rcv_queue|, never negative (rcv_buf does not count).
    private uint WindowUnused() => (uint)_rcvQueue.Count < _rcvWnd ? _rcvWnd - (uint)_rcvQueue.Count : 0;

    // Appends one segment (header, then payload) to the packet being built at `size`, first emitting the
    // packet if the segment would take it past mtu (never an empty one); returns the new size.
    private int Append(int size, byte cmd, uint frg, uint wnd, uint ts, uint sn, ReadOnlySpan<byte> payload)
    {
        int need = Overhead + payload.Length;
        if (size > 0 && size + need > _mtu)
        {
            _output(_buffer.AsSpan(0, size), _outputState);
            size = 0;
        }

        // Only a segment cut before a smaller mtu was set can outgrow the buffer; it goes out alone.
        if (size + need > _buffer.Length)
        {
            Debug.Assert(size == 0, "a packet within mtu always fits the buffer");
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(need);
        }

        // PROTOCOL.md "Wire format"; una is always rcv_nxt.
        Span<byte> segment = _buffer.AsSpan(size, need);
        BinaryPrimitives.WriteUInt32LittleEndian(segment, Conv);
        segment[4] = cmd;
        segment[5] = (byte)frg;
        BinaryPrimitives.WriteUInt16LittleEndian(segment[6..], (ushort)wnd);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[8..], ts);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[12..], sn);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[16..], _rcvNxt);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[20..], (uint)payload.Length);
        payload.CopyTo(segment[Overhead..]);
        return size + need;
    }
}
