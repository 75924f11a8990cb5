using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Threading.Tasks.Sources;

namespace Asio2.Rx;

// The write path: the send queue's batches go into KCP record by record, on the scheduler.
internal sealed partial class KcpSession
{
    /// <summary>In stream mode a record is fed to KCP in chunks this many segments long (ikcp refuses 128 at once).</summary>
    private const int StreamChunkSegments = 64;

    // The batch being written (records not yet handed to KCP) and its completion. The send queue has at most one
    // WriteAsync outstanding, so one reusable completion source is enough. _pendingWrite and _writePending are touched
    // only on the scheduler: a write from another thread hands its batch over as the work item's state, so Pump (run
    // after every drain and update) never sees a write half set up.
    private ReadOnlyMemory<byte> _pendingWrite;
    private bool _writePending;
    private ManualResetValueTaskSourceCore<bool> _writeDone;

    private protected override int GetSendHeaderLength(int payloadLength) =>
        MessageRecords.HeaderLength + (_kcpSettings.StreamMode ? Settings.Framing.GetHeaderLength(payloadLength) : 0);

    private protected override void WriteSendHeader(Span<byte> destination, int payloadLength)
    {
        // The record covers what goes into KCP: in stream mode the framing's header and the payload.
        int framing = destination.Length - MessageRecords.HeaderLength;
        MessageRecords.WriteHeader(destination[..MessageRecords.HeaderLength], framing + payloadLength);
        if (framing > 0) Settings.Framing.WriteHeader(destination[MessageRecords.HeaderLength..], payloadLength);
    }

    // The queue's record lengths never reach KCP: BytesSent counts what is handed to it (a stream mode frame's header included).
    private protected override bool CountsTransportBytes => true;

    /// <summary>Message mode: what one KCP message can hold (127 segments). Stream mode: the framing's limit.</summary>
    private protected override int MaxSendPayload => _kcpSettings.StreamMode
        ? (Settings.Framing.GetHeaderLength(0) > 0 ? Settings.Framing.MaxFrameSize : int.MaxValue)
        : 127 * _kcpSettings.Mss;

    private protected override ValueTask WriteAsync(ReadOnlyMemory<byte> batch)
    {
        // The send queue's writer owns the completion between writes (it has consumed the previous result, and nothing
        // completes it until a batch is pending), so resetting it here, before the hand-over, races nothing.
        _writeDone.Reset();
        var completion = new ValueTask(this, _writeDone.Version);
        if (ReferenceEquals(t_running, this))
        {
            // Inside one of this session's work items (a reply from a Frames handler): into KCP now.
            BeginWrite(batch);
            Pump();
        }
        else
        {
            Scheduler.Schedule((this, batch), static (_, st) =>
            {
                st.Item1.RunOnScheduler(st.batch, static (s, batch) =>
                {
                    s.BeginWrite(batch);
                    if (s._isReleased)
                    {
                        s.FailPendingWrite();
                        return;
                    }
                    uint now = s.Clock;
                    s.EnsureEngineStarted(now);
                    s.AfterWork(now); // pumps the batch, then schedules the update
                });
                return Disposable.Empty;
            });
        }
        return completion;
    }

    /// <summary>Takes over a batch for <see cref="Pump"/>. On the scheduler.</summary>
    private void BeginWrite(ReadOnlyMemory<byte> batch)
    {
        Debug.Assert(!_writePending, "the send queue has one write outstanding at most");
        _pendingWrite = batch;
        _writePending = true;
    }

    /// <summary>Moves records of the pending batch into KCP while it holds fewer than <see cref="MaxUnacknowledgedSegments"/>
    /// segments, flushes them, and completes the write when the batch is used up. On the scheduler.</summary>
    private void Pump()
    {
        if (!_writePending) return;
        if (_isReleased)
        {
            FailPendingWrite();
            return;
        }
        uint now = Clock;
        EnsureEngineStarted(now);
        // KCP stamps segments with the time of the last update: make it now.
        _kcp.Update(now);
        bool queued = false;
        int bytes = 0;
        while (_kcp.WaitSnd < MaxUnacknowledgedSegments && MessageRecords.TryTake(ref _pendingWrite, out var record))
        {
            SendToKcp(record.Span);
            bytes += record.Length;
            queued = true; // an empty message is a segment too
        }
        if (queued)
        {
            OnTransportBytesSent(bytes);
            _kcp.Flush();
        }
        if (_pendingWrite.IsEmpty)
        {
            _writePending = false;
            _pendingWrite = default;
            // The send queue's writer continues inline from here (its next WriteAsync is then inline too).
            _writeDone.SetResult(true);
        }
    }

    private void SendToKcp(ReadOnlySpan<byte> record)
    {
        if (!_kcpSettings.StreamMode)
        {
            int sent = _kcp.Send(record);
            Debug.Assert(sent == record.Length, "MaxSendPayload keeps every message within 127 segments");
            return;
        }
        int chunk = StreamChunkSegments * _kcpSettings.Mss;
        while (!record.IsEmpty)
        {
            int n = Math.Min(chunk, record.Length);
            int sent = _kcp.Send(record[..n]);
            Debug.Assert(sent > 0);
            record = record[sent..];
        }
    }

    private void FailPendingWrite()
    {
        if (!_writePending) return;
        _writePending = false;
        _pendingWrite = default;
        _writeDone.SetException(new SessionClosedException(CloseReason ?? new CloseReason(CloseKind.LocalAbort)));
    }

    void IValueTaskSource.GetResult(short token) => _writeDone.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _writeDone.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _writeDone.OnCompleted(continuation, state, token, flags);
}
