using System.Text;

namespace Asio2.Rx;

/// <summary>
/// Frames end with a delimiter of one or more bytes. <see cref="Framing.MaxFrameSize"/> bounds the bytes before the
/// delimiter, whether or not the delimiter is kept in the payload. Payloads are sent as they are: the sender writes the delimiter.
/// </summary>
internal sealed class DelimiterFraming : Framing
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _delimiter;
    private readonly bool _keepDelimiter;

    internal DelimiterFraming(byte[] delimiter, bool keepDelimiter, int maxFrameSize) : base(maxFrameSize)
    {
        _delimiter = delimiter;
        _keepDelimiter = keepDelimiter;
        MaxEncodedFrameSize = CheckEncodedSize((long)maxFrameSize + delimiter.Length, nameof(maxFrameSize));
    }

    internal override int MaxEncodedFrameSize { get; }

    internal override FrameDecoder CreateDecoder() => new Decoder(_delimiter, _keepDelimiter, MaxFrameSize);

    /// <summary>The UTF-8 bytes of <paramref name="delimiter"/>; lone surrogates are an argument error rather than a silent U+FFFD.</summary>
    internal static byte[] Utf8(string delimiter)
    {
        try
        {
            return StrictUtf8.GetBytes(delimiter);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("The delimiter is not valid UTF-16 (it contains a lone surrogate).", nameof(delimiter), e);
        }
    }

    /// <summary>Per-connection: remembers where the search for the delimiter stopped.</summary>
    private sealed class Decoder(byte[] delimiter, bool keepDelimiter, int maxFrameSize) : FrameDecoder
    {
        /// <summary>Offset in the pending bytes before which no delimiter starts: already searched.</summary>
        private int _searchFrom;

        public override bool TryDecode(ReadOnlyMemory<byte> buffer, out FrameBounds frame)
        {
            ReadOnlySpan<byte> span = buffer.Span;
            int d = delimiter.Length;
            // A delimiter ending past this point would close a frame longer than maxFrameSize: search no further.
            long limit = (long)maxFrameSize + d;
            int end = (int)Math.Min(span.Length, limit);
            // The caller passes the same bytes again after a false result; rescan from 0 only if it did not.
            int from = _searchFrom <= end ? _searchFrom : 0;

            ReadOnlySpan<byte> window = span[from..end];
            int index = d == 1 ? window.IndexOf(delimiter[0]) : window.IndexOf(delimiter);
            if (index < 0)
            {
                if (end == limit)
                    FramingThrowHelper.ThrowNoFrameFits(maxFrameSize);
                // The last d-1 bytes may be the start of a delimiter that the next bytes complete.
                _searchFrom = Math.Max(from, end - d + 1);
                frame = default;
                return false;
            }

            int length = from + index;
            _searchFrom = 0;
            frame = new FrameBounds(length + d, 0, keepDelimiter ? length + d : length);
            return true;
        }
    }
}
