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
        // Reading is held (HoldReading): leave messages inside KCP, so its receive window closes; resumed below.
        if (IsReadingStopped) return;
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
        var bounds = new FrameBoundsList();
        int size;
        while ((size = _kcp.PeekSize()) >= 0)
        {
            int offset = _received.Length;
            int n = _kcp.Receive(_received.GetSpan(size));
            if (n < 0) break;
            _received.Advance(n);
            bounds.Add(offset, n);
        }
        if (bounds.Count == 0) return;
        var batch = bounds.ToBatch(this, _received.WrittenArray, 0, _received.Length);
        _received.Clear();
        DeliverOnScheduler(batch);
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

        var bounds = new FrameBoundsList();
        int start = FrameCutter.Cut(_streamDecoder!, _carry, 0, _carryLength, ref bounds, out var error);
        if (error is null && _carryLength - start > Settings.Framing.MaxEncodedFrameSize)
            error = new FrameException(FrameError.TooLarge, $"no frame fits in {Settings.Framing.MaxEncodedFrameSize} bytes");
        if (bounds.Count > 0) DeliverOnScheduler(bounds.ToBatch(this, _carry, 0, start));
        if (error is not null)
        {
            var (reason, drop) = FrameCutter.Classify(error);
            Drop(drop);
            _carryLength = 0;
            Shutdown(reason, graceful: true);
            return;
        }
        // Keep the incomplete tail at the front.
        _carry.AsSpan(start, _carryLength - start).CopyTo(_carry);
        _carryLength -= start;
    }

    private protected override void OnReadingResumed()
    {
        if (!_isReleased) ScheduleDrain(force: true);
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
