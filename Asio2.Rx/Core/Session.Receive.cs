using System.Buffers;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

public abstract partial class Session
{
    // The session whose frames this thread is delivering right now: sends made from inside a handler are
    // flushed together when the batch ends, instead of one socket write per send.
    [ThreadStatic] private static Session? t_delivering;

    private long _pendingReceiveBytes;
    private TaskCompletionSource? _resumeReading;

    internal static bool IsDelivering(Session session) => ReferenceEquals(t_delivering, session);

    /// <summary>
    /// Hands a batch of frames to the session's scheduler. The returned task completes at once unless more than
    /// <see cref="SessionOptions.MaxPendingReceiveBytes"/> are waiting for subscribers; then it completes when they
    /// have caught up (to half the bound), and the caller must not read meanwhile: that is receive back-pressure.
    /// </summary>
    private protected ValueTask DeliverAsync(FrameBatch batch)
    {
        long pending = Interlocked.Add(ref _pendingReceiveBytes, batch.Bytes);
        if (ReferenceEquals(Scheduler, ImmediateScheduler.Instance))
            DeliverNow(batch);
        else
            Scheduler.Schedule(batch, static (_, b) =>
            {
                b.Session.DeliverNow(b);
                return Disposable.Empty;
            });
        return pending <= Settings.MaxPendingReceiveBytes ? default : WaitForSubscribersAsync();
    }

    /// <summary>
    /// Delivers a batch at once, on the calling thread, which must be running a work item of the session's
    /// <see cref="Scheduler"/>. For message transports whose input is already processed there (KCP): the frames reach
    /// subscribers without another hop, and replies sent from a handler are flushed before the work item ends.
    /// </summary>
    private protected void DeliverOnScheduler(FrameBatch batch)
    {
        Interlocked.Add(ref _pendingReceiveBytes, batch.Bytes);
        DeliverNow(batch);
    }

    /// <summary>
    /// Delivers a batch read by a loop that runs on the session's <see cref="Scheduler"/> (stream sessions): the
    /// frames reach subscribers at once, and the reader is paused while they run (it reads again when this returns).
    /// </summary>
    private protected void DeliverInline(FrameBatch batch)
    {
        Interlocked.Add(ref _pendingReceiveBytes, batch.Bytes);
        IsReadingPaused = true;
        try
        {
            DeliverNow(batch);
        }
        finally
        {
            IsReadingPaused = false;
        }
    }

    /// <summary>Bytes delivered to the scheduler and not yet processed by subscribers.</summary>
    internal long PendingReceiveBytes => Volatile.Read(ref _pendingReceiveBytes);

    /// <summary>True while the read loop waits for subscribers to catch up (receive back-pressure).</summary>
    internal bool IsReadingPaused { get; private set; }

    private async ValueTask WaitForSubscribersAsync()
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _resumeReading, resume);
        // Re-check after publishing: the subscribers may have caught up in between.
        if (Volatile.Read(ref _pendingReceiveBytes) <= Settings.MaxPendingReceiveBytes / 2 || _finishedFlag != 0)
            resume.TrySetResult();
        IsReadingPaused = true;
        await resume.Task.ConfigureAwait(false);
        IsReadingPaused = false;
    }

    private int _finishedFlag;

    private void ReleaseReader()
    {
        Volatile.Write(ref _finishedFlag, 1);
        Volatile.Read(ref _resumeReading)?.TrySetResult();
        _readLimit?.Close();
    }

    private void DeliverNow(FrameBatch batch)
    {
        try
        {
            if (_finished) return; // the session completed; frames read after that are dropped
            var previous = t_delivering;
            t_delivering = this;
            int delivered = 0;
            try
            {
                var data = batch.Data;
                var kinds = batch.Kinds;
                if (batch.Bounds is null)
                {
                    _frames.OnNext(new Frame(this, data, kinds is null ? FrameKind.Binary : kinds[0]));
                    delivered = 1;
                }
                else
                {
                    var bounds = batch.Bounds;
                    for (int i = 0; i < batch.Count; i++)
                    {
                        _frames.OnNext(new Frame(this, new ReadOnlyMemory<byte>(data, bounds[2 * i], bounds[2 * i + 1]), kinds is null ? FrameKind.Binary : kinds[i]));
                        delivered++;
                    }
                }
            }
            catch (Exception ex)
            {
                OnUserCodeFault(ex);
            }
            finally
            {
                t_delivering = previous;
                Volatile.Write(ref _framesReceived, _framesReceived + delivered);
                Asio2Metrics.FramesReceived(Transport, delivered);
            }
            _sendQueue.FlushDeferred();
        }
        finally
        {
            batch.Release();
            long left = Interlocked.Add(ref _pendingReceiveBytes, -batch.Bytes);
            if (left <= Settings.MaxPendingReceiveBytes / 2) Volatile.Read(ref _resumeReading)?.TrySetResult();
        }
    }

    /// <summary>A subscriber threw: close this session only (invariant 9), log and count.</summary>
    private void OnUserCodeFault(Exception ex)
    {
        Asio2Metrics.UserCodeFault(Transport);
        Logger.LogError(ex, "{Session} a subscriber threw; closing this session only", this);
        Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
    }
}

/// <summary>
/// Frames parsed from one read: one array holding their bytes (invariant 5: one allocation per read, shared by
/// its frames) and their (offset, length) pairs in a pooled array. Null bounds: the whole array is one frame.
/// </summary>
internal sealed class FrameBatch
{
    public FrameBatch(Session session, byte[] data, int[]? bounds, int count)
    {
        Session = session;
        Data = data;
        Bounds = bounds;
        Count = count;
    }

    public Session Session { get; }
    public byte[] Data { get; }
    public int[]? Bounds { get; private set; }
    public int Count { get; }
    public int Bytes => Data.Length;

    /// <summary>Each frame's kind, for transports that distinguish text from binary; null: all binary.</summary>
    public FrameKind[]? Kinds { get; set; }

    public void Release()
    {
        if (Bounds is { } b)
        {
            Bounds = null;
            ArrayPool<int>.Shared.Return(b);
        }
    }
}
