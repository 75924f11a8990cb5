using System.Diagnostics;
using System.Reactive;

namespace Asio2.Rx;

/// <summary>Rx operators that cut byte streams into frames.</summary>
public static partial class FramingObservable
{
    /// <summary>
    /// Cuts a stream of byte chunks (serial bytes, UDP payloads, a file) into frames with <paramref name="framing"/>,
    /// the same decoders sessions use: <c>bytes.Frame(Framing.Delimiter('\n'))</c>.
    /// </summary>
    /// <param name="source">The bytes, in order. Chunks may split frames anywhere and may be reused by the source after
    /// <c>OnNext</c> returns: the operator copies what it keeps.</param>
    /// <param name="framing">How to find the frames.</param>
    /// <returns>
    /// The payloads. They are immutable and safe to keep (buffer, delay, move to another thread): the payloads of all the
    /// frames one chunk completes are copied into one new array and handed out as slices of it, which is never reused.
    /// Cold: each subscription subscribes to <paramref name="source"/> with its own decoder.
    /// </returns>
    /// <remarks>
    /// Illegal or oversize input ends the stream with <c>OnError(</c><see cref="FrameException"/><c>)</c>, after the frames
    /// that came before it. A source that completes in the middle of a frame ends it with a <see cref="FrameException"/> of
    /// <see cref="FrameError.Truncated"/> (raw framing instead delivers what is left as a last frame). An exception thrown by a
    /// <see cref="FrameMatcher"/> ends it with that exception. Errors of <paramref name="source"/> are passed on.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="framing"/> is null.</exception>
    public static IObservable<ReadOnlyMemory<byte>> Frame(this IObservable<ReadOnlyMemory<byte>> source, Framing framing)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(framing);
        return new FrameObservable(source, framing);
    }
}

/// <summary>The <see cref="FramingObservable.Frame"/> operator. <see cref="ObservableBase{T}"/> supplies the Rx grammar
/// (nothing after a terminal notification, the source subscription disposed on termination).</summary>
internal sealed class FrameObservable(IObservable<ReadOnlyMemory<byte>> source, Framing framing) : ObservableBase<ReadOnlyMemory<byte>>
{
    protected override IDisposable SubscribeCore(IObserver<ReadOnlyMemory<byte>> observer) =>
        source.SubscribeSafe(new Sink(observer, framing.CreateDecoder()));

    /// <summary>Per-subscription state: the decoder and the bytes of the frame still arriving.</summary>
    private sealed class Sink(IObserver<ReadOnlyMemory<byte>> downstream, FrameDecoder decoder) : IObserver<ReadOnlyMemory<byte>>
    {
        /// <summary>A carry-over buffer larger than this is given back once it is mostly empty, so one large frame does not
        /// pin its buffer for the rest of the subscription.</summary>
        private const int RetainedBufferSize = 64 * 1024;

        /// <summary>The frames found in the current batch, payload offsets relative to the batch input.
        /// Reused from batch to batch, so finding a frame allocates nothing.</summary>
        private readonly List<FrameBounds> _frames = [];

        /// <summary>Undecoded bytes carried over to the next chunk, at the start of the array. Never handed out.</summary>
        private byte[] _pending = [];
        private int _pendingLength;
        private bool _stopped;

        public void OnNext(ReadOnlyMemory<byte> chunk)
        {
            if (_stopped || chunk.IsEmpty)
                return;

            // With nothing carried over, decode straight from the chunk and copy only the frames and the tail.
            ReadOnlyMemory<byte> input = chunk;
            bool carried = _pendingLength > 0;
            if (carried)
            {
                Append(chunk.Span);
                input = _pending.AsMemory(0, _pendingLength);
            }

            Exception? error = Decode(input, final: false, out int consumed);
            byte[] batch = CopyPayloads(input.Span);
            if (error is null)
                Keep(input.Span[consumed..], inPlace: carried && consumed == 0);
            Emit(batch);
            if (error is not null)
                Stop(error);
        }

        public void OnCompleted()
        {
            if (_stopped)
                return;
            Exception? error = null;
            if (_pendingLength > 0)
            {
                ReadOnlyMemory<byte> input = _pending.AsMemory(0, _pendingLength);
                error = Decode(input, final: true, out _);
                Emit(CopyPayloads(input.Span));
            }
            Stop(error);
        }

        public void OnError(Exception error)
        {
            if (!_stopped)
                Stop(error);
        }

        private void Stop(Exception? error)
        {
            _stopped = true;
            _pending = [];
            _pendingLength = 0;
            if (error is null)
                downstream.OnCompleted();
            else
                downstream.OnError(error);
        }

        /// <summary>Finds every frame at the start of <paramref name="input"/>; returns what stopped the search, if it was an error.</summary>
        private Exception? Decode(ReadOnlyMemory<byte> input, bool final, out int consumed)
        {
            consumed = 0;
            try
            {
                while (consumed < input.Length)
                {
                    ReadOnlyMemory<byte> rest = input[consumed..];
                    bool found = final ? decoder.TryDecodeFinal(rest, out FrameBounds frame) : decoder.TryDecode(rest, out frame);
                    if (!found)
                        break;
                    Debug.Assert(frame.Consumed > 0 && frame.Consumed <= rest.Length && frame.PayloadOffset + frame.PayloadLength <= frame.Consumed);
                    _frames.Add(frame with { PayloadOffset = consumed + frame.PayloadOffset });
                    consumed += frame.Consumed;
                }
                if (final && consumed < input.Length)
                    return new FrameException(FrameError.Truncated, $"the input ended {input.Length - consumed} bytes into a frame");
                return null;
            }
            catch (Exception e)
            {
                // FrameException for bad input, or whatever a custom matcher threw: both end the stream.
                return e;
            }
        }

        /// <summary>One array for all the payloads of the batch (invariant 5: one allocation per read, not per frame).</summary>
        private byte[] CopyPayloads(ReadOnlySpan<byte> input)
        {
            int total = 0;
            foreach (FrameBounds frame in _frames)
                total += frame.PayloadLength;
            if (total == 0)
                return [];

            byte[] batch = GC.AllocateUninitializedArray<byte>(total);
            int at = 0;
            foreach (FrameBounds frame in _frames)
            {
                input.Slice(frame.PayloadOffset, frame.PayloadLength).CopyTo(batch.AsSpan(at));
                at += frame.PayloadLength;
            }
            return batch;
        }

        private void Emit(byte[] batch)
        {
            try
            {
                int at = 0;
                foreach (FrameBounds frame in _frames)
                {
                    downstream.OnNext(batch.AsMemory(at, frame.PayloadLength));
                    at += frame.PayloadLength;
                }
            }
            finally
            {
                _frames.Clear();
            }
        }

        private void Append(ReadOnlySpan<byte> chunk)
        {
            int needed = checked(_pendingLength + chunk.Length);
            if (needed > _pending.Length)
            {
                var grown = new byte[Math.Max(needed, (int)Math.Min(2L * _pending.Length, Array.MaxLength))];
                _pending.AsSpan(0, _pendingLength).CopyTo(grown);
                _pending = grown;
            }
            chunk.CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength = needed;
        }

        /// <summary>Carries <paramref name="tail"/> (the start of a frame, shorter than the framing's largest) over to the next chunk.
        /// <paramref name="tail"/> may lie in the carry-over buffer itself (<see cref="Span{T}.CopyTo"/> handles the overlap);
        /// <paramref name="inPlace"/> says it already starts there, as when a large frame arrives byte by byte: no copy then.</summary>
        private void Keep(ReadOnlySpan<byte> tail, bool inPlace)
        {
            bool shrink = _pending.Length > RetainedBufferSize && tail.Length <= _pending.Length / 4;
            if (inPlace && !shrink)
                return;
            if (shrink || tail.Length > _pending.Length)
                _pending = tail.IsEmpty ? [] : new byte[tail.Length];
            tail.CopyTo(_pending);
            _pendingLength = tail.Length;
        }
    }
}
