using System.Buffers;

namespace Asio2.Rx;

// The receive path: messages KCP completed become frames, delivered inline on the scheduler.
internal sealed partial class KcpSession
{
    private readonly FrameDecoder? _streamDecoder;
    private GrowableBuffer _received = new();
    // Stream mode: bytes of a frame not yet complete, carried to the next drain.
    private byte[] _carry = [];
    private int _carryLength;

    /// <summary>
    /// Takes every complete message out of KCP and delivers them as one batch: one new array holding them all, shared by
    /// their frames (invariant 5). Runs on the scheduler, inside a drain, so replies sent by handlers go into KCP before
    /// the drain's flush.
    /// </summary>
    private void ReceiveMessages()
    {
        if (ReadLimit is { Available: < 0 })
        {
            // Over the read budget: leave messages inside KCP. Its receive window fills and closes, so the peer
            // stops sending (KCP's flow control does what TCP's does for stream sessions); resume when repaid.
            WaitForReadBudget();
            return;
        }
        if (_streamDecoder is not null)
        {
            ReceiveStream();
            return;
        }
        int count = 0;
        int[]? bounds = null;
        int size;
        while ((size = _kcp.PeekSize()) >= 0)
        {
            int offset = _received.Length;
            int n = _kcp.Receive(_received.GetSpan(size));
            if (n < 0) break;
            _received.Advance(n);
            bounds ??= ArrayPool<int>.Shared.Rent(16);
            if (2 * count + 2 > bounds.Length)
            {
                var grown = ArrayPool<int>.Shared.Rent(bounds.Length * 2);
                bounds.AsSpan(0, 2 * count).CopyTo(grown);
                ArrayPool<int>.Shared.Return(bounds);
                bounds = grown;
            }
            bounds[2 * count] = offset;
            bounds[2 * count + 1] = n;
            count++;
        }
        if (count == 0) return;
        var data = _received.WrittenMemory.ToArray();
        _received.Clear();
        if (count == 1)
        {
            ArrayPool<int>.Shared.Return(bounds!);
            bounds = null;
        }
        DeliverOnScheduler(new FrameBatch(this, data, bounds, count));
    }

    /// <summary>Stream mode: appends what KCP received to the carry-over and cuts frames with the framing.</summary>
    private void ReceiveStream()
    {
        int size;
        bool any = false;
        while ((size = _kcp.PeekSize()) >= 0)
        {
            EnsureCarry(_carryLength + size);
            int n = _kcp.Receive(_carry.AsSpan(_carryLength, size));
            if (n < 0) break;
            _carryLength += n;
            any = true;
        }
        if (!any || _carryLength == 0) return;

        int start = 0, count = 0;
        int[]? bounds = null;
        try
        {
            while (start < _carryLength && _streamDecoder!.TryDecode(_carry.AsMemory(start, _carryLength - start), out var frame))
            {
                bounds ??= ArrayPool<int>.Shared.Rent(16);
                if (2 * count + 2 > bounds.Length)
                {
                    var grown = ArrayPool<int>.Shared.Rent(bounds.Length * 2);
                    bounds.AsSpan(0, 2 * count).CopyTo(grown);
                    ArrayPool<int>.Shared.Return(bounds);
                    bounds = grown;
                }
                bounds[2 * count] = start + frame.PayloadOffset;
                bounds[2 * count + 1] = frame.PayloadLength;
                count++;
                start += frame.Consumed;
                if (frame.Consumed == 0) break;
            }
            if (_carryLength - start > Settings.Framing.MaxEncodedFrameSize)
                throw new FrameException(FrameError.TooLarge, $"no frame fits in {Settings.Framing.MaxEncodedFrameSize} bytes");
        }
        catch (FrameException fe)
        {
            Deliver(start, bounds, count);
            var kind = fe.Error == FrameError.TooLarge ? CloseKind.FrameTooLarge : CloseKind.ProtocolError;
            _drops.Drop(kind == CloseKind.FrameTooLarge ? "frame_too_large" : "illegal_frame");
            _carryLength = 0;
            Shutdown(new CloseReason(kind, fe, fe.Message), graceful: true);
            return;
        }
        Deliver(start, bounds, count);
        // Keep the incomplete tail at the front.
        _carry.AsSpan(start, _carryLength - start).CopyTo(_carry);
        _carryLength -= start;

        void Deliver(int length, int[]? bounds, int count)
        {
            if (count == 0)
            {
                if (bounds is not null) ArrayPool<int>.Shared.Return(bounds);
                return;
            }
            var data = _carry.AsSpan(0, length).ToArray();
            DeliverOnScheduler(new FrameBatch(this, data, bounds, count));
        }
    }

    private int _waitingForReadBudget;

    private void WaitForReadBudget()
    {
        if (Interlocked.Exchange(ref _waitingForReadBudget, 1) != 0) return;
        RepayReadDebtAsync().AsTask().ContinueWith(static (_, state) =>
        {
            var s = (KcpSession)state!;
            Volatile.Write(ref s._waitingForReadBudget, 0);
            s.ScheduleDrain(force: true);
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void EnsureCarry(int size)
    {
        if (_carry.Length >= size) return;
        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(size, Math.Max(4096, _carry.Length * 2)));
        _carry.AsSpan(0, _carryLength).CopyTo(grown);
        if (_carry.Length > 0) ArrayPool<byte>.Shared.Return(_carry);
        _carry = grown;
    }

    private void ReleaseReceiveBuffers()
    {
        if (_carry.Length > 0) ArrayPool<byte>.Shared.Return(_carry);
        _carry = [];
        _carryLength = 0;
        _received = new GrowableBuffer();
    }
}
