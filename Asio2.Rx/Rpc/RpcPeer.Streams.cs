using System.Buffers;

namespace Asio2.Rx;

// Streamed results (MessagePack-RPC extension): the serving side of $/stream.
public sealed partial class RpcPeer
{
    /// <summary>
    /// Sends a bound observable's items as <c>$/next</c> notifications, at most <c>credit</c> ahead of the caller's
    /// <c>$/ack</c>s, then the final response (nil result, or the error). An <c>IObservable</c> cannot be paused, so items
    /// beyond the window wait here, encoded, up to <see cref="RpcOptions.MaxStreamBufferBytes"/>; past that the stream ends
    /// with <see cref="RpcErrorKind.PayloadTooLarge"/> and the producer is unsubscribed.
    /// </summary>
    /// <remarks>Items may arrive on any thread; one lock orders them with acknowledgements.</remarks>
    private sealed class StreamProducer(RpcPeer peer, RpcMessage request, Type itemType, int window) : Running(peer, request, null)
    {
        private readonly object _lock = new();
        private readonly Queue<byte[]> _buffered = new();
        private long _bufferedBytes;
        private int _credit = window;
        private bool _ended;
        private Exception? _error;

        public override void OnNext(object? value)
        {
            try
            {
                lock (_lock)
                {
                    if (IsFinished || _ended) return;
                    if (_credit > 0 && _buffered.Count == 0)
                    {
                        _credit--;
                        Peer.Send(static (w, st) => st.Item1._messagePack!.WriteStreamItem(w, st.Item2, st.value, st.itemType), (Peer, Id, value, itemType));
                        return;
                    }
                    var encoded = new ArrayBufferWriter<byte>();
                    Peer._messagePack!.WriteStreamItem(encoded, Id, value, itemType);
                    _buffered.Enqueue(encoded.WrittenSpan.ToArray());
                    _bufferedBytes += encoded.WrittenCount;
                    if (_bufferedBytes <= Peer._settings.MaxStreamBufferBytes) return;
                }
            }
            catch (Exception ex)
            {
                // The item could not be encoded: the stream ends with that error.
                Cancel();
                Peer.ReplyException(Request, ex);
                return;
            }
            // Overflow: stop the producer, tell the caller.
            Cancel();
            Peer.ReplyError(Request, RpcErrorKind.PayloadTooLarge,
                $"the stream '{Request.Method}' produced more than {Peer._settings.MaxStreamBufferBytes} bytes ahead of the caller's window");
        }

        public override void OnError(Exception error)
        {
            lock (_lock)
            {
                _ended = true;
                _error = error;
                if (_buffered.Count > 0) return;
            }
            Finish();
        }

        public override void OnCompleted()
        {
            lock (_lock)
            {
                _ended = true;
                if (_buffered.Count > 0) return;
            }
            Finish();
        }

        /// <summary>The caller delivered <paramref name="count"/> more items: send what waits, then the end if it came.</summary>
        public void Ack(int count)
        {
            if (count <= 0) return;
            lock (_lock)
            {
                if (IsFinished) return;
                _credit += count;
                while (_credit > 0 && _buffered.TryDequeue(out var item))
                {
                    _credit--;
                    _bufferedBytes -= item.Length;
                    Peer.Send(static (w, bytes) => w.Write(bytes), item);
                }
                if (!_ended || _buffered.Count > 0) return;
            }
            Finish();
        }

        private void Finish()
        {
            if (!TryFinish()) return;
            if (_error is { } error) Peer.ReplyException(Request, error);
            else Peer.ReplyResult(Request, null, null);
        }
    }
}
