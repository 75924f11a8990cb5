using System.Buffers.Binary;
using System.Diagnostics;

namespace Asio2.Rx;

/// <summary>
/// How message transports (UDP, KCP) keep message boundaries through the send queue, which coalesces every queued
/// <c>Send</c> into one batch: each payload is queued behind a 4-byte little-endian record length (written by the
/// session's <c>WriteSendHeader</c> hook), and <c>WriteAsync</c> walks the batch record by record. The record header
/// never reaches the wire.
/// </summary>
internal static class MessageRecords
{
    /// <summary>Bytes of the record header in front of every queued payload.</summary>
    public const int HeaderLength = sizeof(int);

    /// <summary>Writes the record header for a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static void WriteHeader(Span<byte> destination, int payloadLength)
    {
        Debug.Assert(destination.Length == HeaderLength && payloadLength >= 0);
        BinaryPrimitives.WriteInt32LittleEndian(destination, payloadLength);
    }

    /// <summary>
    /// Takes the first record off <paramref name="batch"/>: its payload, and the batch after it. False when the batch
    /// is empty. The send queue only ever holds whole records, so a batch never ends inside one.
    /// </summary>
    public static bool TryTake(ref ReadOnlyMemory<byte> batch, out ReadOnlyMemory<byte> payload)
    {
        if (batch.Length < HeaderLength)
        {
            Debug.Assert(batch.IsEmpty, "a batch ended inside a record header");
            payload = default;
            return false;
        }
        int length = BinaryPrimitives.ReadInt32LittleEndian(batch.Span);
        Debug.Assert(length >= 0 && length <= batch.Length - HeaderLength, "a batch ended inside a record");
        payload = batch.Slice(HeaderLength, length);
        batch = batch[(HeaderLength + length)..];
        return true;
    }
}
