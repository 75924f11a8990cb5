using System.Net.WebSockets;

namespace Asio2.Rx;

// The send path: the shared send queue keeps message boundaries with a record header, as KCP does; each batch
// becomes WebSocket frames gathered into one write. A streamed send (SendAsync of a stream or an observable) is queued
// in pieces, each piece a fragment of one message (RFC 6455 §5.4), so a message of any size never sits whole in memory.
public sealed partial class WebSocketSession
{
    /// <summary>The record header: <see cref="MessageRecords"/>' length, then one byte of flags (text, no compression,
    /// more fragments follow).</summary>
    private const int RecordHeaderLength = MessageRecords.HeaderLength + 1;

    private const byte FlagMoreFragments = 4;

    private protected override int GetSendHeaderLength(int payloadLength) => RecordHeaderLength;

    private protected override void WriteSendHeader(Span<byte> destination, int payloadLength) =>
        WriteSendHeader(destination, payloadLength, FrameKind.Binary);

    private protected override void WriteSendHeader(Span<byte> destination, int payloadLength, FrameKind kind)
    {
        MessageRecords.WriteHeader(destination[..MessageRecords.HeaderLength], payloadLength + 1);
        destination[MessageRecords.HeaderLength] = (byte)((kind == FrameKind.Text ? FlagText : 0) | (t_noCompression ? FlagNoCompression : 0));
    }

    private protected override bool SendsMessagesInPieces => true;

    private protected override void WritePieceHeader(Span<byte> destination, int pieceLength, FrameKind kind, bool last)
    {
        WriteSendHeader(destination, pieceLength, kind);
        if (!last) destination[MessageRecords.HeaderLength] |= FlagMoreFragments;
    }

    /// <summary>A message's size is bounded by the send queue, not by a framing.</summary>
    private protected override int MaxSendPayload => int.MaxValue - RecordHeaderLength;

    /// <summary>The session's own <see cref="WebSocketOptions.MaxMessageSize"/>: peers are assumed to take what this side takes.</summary>
    internal override int MaxMessageSize => _wsSettings.MaxMessageSize;

    private protected override async ValueTask WriteAsync(ReadOnlyMemory<byte> batch)
    {
        _wire.BeginBatch();
        try
        {
            while (MessageRecords.TryTake(ref batch, out var record))
            {
                // Once a close frame went out, nothing more may follow it (§5.5.1): what is left is dropped.
                if (_ws.State is not (WebSocketState.Open or WebSocketState.CloseReceived)) continue;
                byte flags = record.Span[0];
                var type = (flags & FlagText) != 0 ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
                var messageFlags = (flags & FlagMoreFragments) != 0 ? WebSocketMessageFlags.None : WebSocketMessageFlags.EndOfMessage;
                if ((flags & FlagNoCompression) != 0) messageFlags |= WebSocketMessageFlags.DisableCompression;
                var send = _ws.SendAsync(record[1..], type, messageFlags, CancellationToken.None);
                if (!send.IsCompletedSuccessfully) await send.ConfigureAwait(false);
            }
        }
        finally
        {
            await _wire.EndBatchAsync().ConfigureAwait(false);
        }
    }
}
