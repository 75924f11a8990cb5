using System.Buffers;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

// The receive side every transport shares: frames are delivered in batches on the session's scheduler, and reading is
// held while a consumer holds credit (HoldReading) or a hand-over is under way. A hold taken by a frame handler stops
// delivery after that frame; the rest of the batch waits here, counted in PendingReceiveBytes, until the last hold is
// released, and only then may the transport read again (OnReadingResumed).
public abstract partial class Session
{
    // The session whose frames this thread is delivering right now: sends made from inside a handler are
    // flushed together when the batch ends, instead of one socket write per send.
    [ThreadStatic] private static Session? t_delivering;

    private long _pendingReceiveBytes;
    private int _holds;
    private volatile bool _deliveryStopped; // a hand-over: nothing more is delivered, ever

    // Batches not fully delivered because a hold stopped delivery, oldest first; the head resumes at _nextFrame.
    // Touched only on the scheduler.
    private Queue<FrameBatch>? _undelivered;
    private int _nextFrame;
    private bool _faulted; // a subscriber threw: deliver nothing more (touched only on the scheduler)

    internal static bool IsDelivering(Session session) => ReferenceEquals(t_delivering, session);

    /// <summary>
    /// Holds reading until the returned handle is disposed (read credit): while any hold is outstanding the session
    /// reads nothing more from its transport, so frames cannot pile up behind a consumer that works asynchronously.
    /// Byte streams (TCP, TLS, serial) issue no receive and transport flow control slows the peer; UDP drops (and
    /// counts) datagrams beyond <see cref="SessionOptions.MaxPendingReceiveBytes"/>; KCP leaves messages inside KCP,
    /// whose receive window closes. Reading resumes when the last hold is disposed.
    /// </summary>
    /// <remarks>
    /// Take the hold in a <see cref="Frames"/> handler (on <see cref="Scheduler"/>): no frame is delivered after that
    /// one until the hold is released, not even the rest of the same read. Thread-safe; disposing a handle twice is
    /// harmless. <see cref="FrameObservableExtensions.SelectAsync{TResult}(IObservable{Frame}, Func{Frame, CancellationToken, Task{TResult}})"/> does this for an asynchronous step per frame.
    /// </remarks>
    /// <returns>The hold; dispose it when the work is done.</returns>
    public IDisposable HoldReading()
    {
        Interlocked.Increment(ref _holds);
        return new ReadHold(this);
    }

    /// <summary>True while at least one <see cref="HoldReading"/> handle is outstanding.</summary>
    internal bool IsReadingHeld => Volatile.Read(ref _holds) > 0;

    /// <summary>Bytes read from the transport and not yet processed by subscribers (waiting on the scheduler, or
    /// behind a hold).</summary>
    internal long PendingReceiveBytes => Volatile.Read(ref _pendingReceiveBytes);

    /// <summary>True while frames wait for delivery or reading is held: the transport must not read (stream sessions)
    /// or must leave input where it is (KCP). Read on the scheduler.</summary>
    private protected bool IsReadingStopped => IsReadingHeld || _undelivered is { Count: > 0 } || _deliveryStopped;

    /// <summary>Runs on the scheduler when reading may continue after a hold was released and the frames it held back
    /// were delivered. Transports that stopped reading start again here.</summary>
    private protected virtual void OnReadingResumed()
    {
    }

    /// <summary>Stops delivering frames for good (a hand-over); batches not yet delivered stay where
    /// <see cref="TakeUndeliveredBytes"/> finds them.</summary>
    private protected void StopDelivery() => _deliveryStopped = true;

    /// <summary>
    /// Hands a batch to the session's scheduler from any thread (datagram transports, whose input arrives on a shared
    /// receive loop). Nothing waits: such transports bound what they hand over with <see cref="PendingReceiveBytes"/>.
    /// </summary>
    private protected void Post(FrameBatch batch)
    {
        Interlocked.Add(ref _pendingReceiveBytes, batch.Bytes);
        if (ReferenceEquals(Scheduler, ImmediateScheduler.Instance))
            Deliver(batch);
        else
            Scheduler.Schedule(batch, static (_, b) =>
            {
                b.Session.Deliver(b);
                return Disposable.Empty;
            });
    }

    /// <summary>
    /// Delivers a batch at once, on the calling thread, which must be running a work item of the session's
    /// <see cref="Scheduler"/> (the stream read loop, KCP's drain): the frames reach subscribers without another hop,
    /// and replies sent from a handler are flushed before this returns. If a handler holds reading, the rest of the
    /// batch waits until the hold is released; check <see cref="IsReadingStopped"/> before reading more.
    /// </summary>
    private protected void DeliverOnScheduler(FrameBatch batch)
    {
        Interlocked.Add(ref _pendingReceiveBytes, batch.Bytes);
        Deliver(batch);
    }

    private void Deliver(FrameBatch batch)
    {
        if (_finished || _faulted)
        {
            Done(batch); // the session completed, or a subscriber broke it: frames read after that are dropped
            return;
        }
        if (_deliveryStopped)
        {
            (_undelivered ??= new()).Enqueue(batch); // handed over: the bytes go to the new owner
            return;
        }
        if (_undelivered is { Count: > 0 } waiting)
        {
            waiting.Enqueue(batch); // behind the frames a hold stopped: order is kept
            return;
        }
        if (!DeliverFrom(batch, 0)) (_undelivered ??= new()).Enqueue(batch);
    }

    /// <summary>Delivers frames from <paramref name="first"/> on; false when a hold or hand-over stopped it
    /// (<see cref="_nextFrame"/> then says where to go on), true when the batch is done.</summary>
    private bool DeliverFrom(FrameBatch batch, int first)
    {
        var previous = t_delivering;
        t_delivering = this;
        int next = first;
        try
        {
            for (; next < batch.Count; next++)
            {
                if (IsReadingHeld || _deliveryStopped || _faulted) break;
                _frames.OnNext(batch.FrameAt(next));
            }
        }
        catch (Exception ex)
        {
            next++; // the frame that threw was delivered; the rest are dropped, as the session closes
            OnUserCodeFault(ex);
            Count(next - first);
            next = batch.Count;
            first = next;
        }
        finally
        {
            t_delivering = previous;
        }
        Count(next - first);
        _sendQueue.FlushDeferred();
        if (next < batch.Count && !_finished && !_faulted)
        {
            _nextFrame = next;
            return false;
        }
        Done(batch);
        return true;
    }

    private void Count(int delivered)
    {
        if (delivered == 0) return;
        Volatile.Write(ref _framesReceived, _framesReceived + delivered);
        Settings.Metrics.FramesReceived(Transport, delivered);
    }

    private void Done(FrameBatch batch)
    {
        batch.Release();
        Interlocked.Add(ref _pendingReceiveBytes, -batch.Bytes);
    }

    /// <summary>On the scheduler, after the last hold was released: delivers what the holds kept back, then lets the
    /// transport read again unless a handler took a new hold meanwhile.</summary>
    private void ResumeDelivery()
    {
        if (_finished || _deliveryStopped) return;
        var waiting = _undelivered;
        while (waiting is { Count: > 0 })
        {
            if (IsReadingHeld) return;
            var head = waiting.Peek();
            if (!DeliverFrom(head, _nextFrame)) return;
            waiting.Dequeue();
            _nextFrame = 0;
        }
        if (!IsReadingHeld) OnReadingResumed();
    }

    private void ReleaseHold()
    {
        if (Interlocked.Decrement(ref _holds) != 0) return;
        try
        {
            Scheduler.Schedule(this, static (_, s) =>
            {
                s.ResumeDelivery();
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException)
        {
            // The scheduler is gone (its pool was disposed): the session closes with it; nothing to resume.
        }
    }

    /// <summary>
    /// The bytes of every frame not delivered yet, in order, as they came from the transport (headers and delimiters
    /// included), and forgets those frames. For a hand-over, on the scheduler, after <see cref="StopDelivery"/>.
    /// </summary>
    private protected byte[] TakeUndeliveredBytes(ReadOnlySpan<byte> tail)
    {
        var waiting = _undelivered;
        int total = tail.Length;
        if (waiting is not null)
        {
            bool head = true;
            foreach (var b in waiting)
            {
                total += b.Bytes - b.EncodedEnd(head ? _nextFrame - 1 : -1);
                head = false;
            }
        }
        var bytes = new byte[total];
        int at = 0;
        if (waiting is not null)
        {
            bool head = true;
            while (waiting.TryDequeue(out var b))
            {
                int from = b.EncodedEnd(head ? _nextFrame - 1 : -1);
                b.Data.AsSpan(from).CopyTo(bytes.AsSpan(at));
                at += b.Bytes - from;
                head = false;
                Done(b);
            }
            _nextFrame = 0;
        }
        tail.CopyTo(bytes.AsSpan(at));
        return bytes;
    }

    /// <summary>When the session finishes: frames still held back are dropped, and a waiting reader is let go.</summary>
    private void ReleaseReader()
    {
        if (_undelivered is { } waiting)
            while (waiting.TryDequeue(out var b)) Done(b);
        OnReadingResumed();
        _readLimit?.Close();
    }

    /// <summary>A subscriber threw: close this session only (invariant 9), log and count. The rest of the batch
    /// being delivered is dropped. On the scheduler.</summary>
    internal void OnUserCodeFault(Exception ex)
    {
        _faulted = true;
        Settings.Metrics.UserCodeFault(Transport);
        Asio2Log.SubscriberFailed(Logger, ex, this);
        Shutdown(new CloseReason(CloseKind.UserCodeFault, ex, ex.Message), graceful: false);
    }

    /// <summary>One <see cref="HoldReading"/> handle: releases its hold once.</summary>
    private sealed class ReadHold(Session session) : IDisposable
    {
        private Session? _session = session;

        public void Dispose() => Interlocked.Exchange(ref _session, null)?.ReleaseHold();
    }
}

/// <summary>
/// Frames parsed from one read: one array holding their bytes as they came (invariant 5: one allocation per read,
/// shared by its frames) and, per frame, the payload's offset and length and where the frame's encoding ends, in a
/// pooled array. Null bounds: the whole array is one frame.
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

    /// <summary>The kind of every frame of the batch (message transports that carry one set it).</summary>
    public FrameKind Kind { get; init; }

    public Frame FrameAt(int index) => Bounds is { } b
        ? new Frame(Session, new ReadOnlyMemory<byte>(Data, b[3 * index], b[3 * index + 1]), Kind)
        : new Frame(Session, Data, Kind);

    /// <summary>Where frame <paramref name="index"/>'s encoding ends in <see cref="Data"/>; 0 for index -1.</summary>
    public int EncodedEnd(int index) => index < 0 ? 0 : Bounds is { } b ? b[3 * index + 2] : Data.Length;

    public void Release()
    {
        if (Bounds is { } b)
        {
            Bounds = null;
            ArrayPool<int>.Shared.Return(b);
        }
    }
}
