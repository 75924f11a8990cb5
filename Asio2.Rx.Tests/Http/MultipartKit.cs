using System.Text;

namespace Asio2.Rx.Tests.Http;

/// <summary>Multipart bodies written by hand, byte for byte, and read back through the library's reader.</summary>
internal static class MultipartKit
{
    public const string Boundary = "----asio2rx7MA4YWxkTrZu0gW";

    public static string ContentType => $"multipart/form-data; boundary={Boundary}";

    /// <summary>A body with a preamble, a text field, a field whose data holds near-misses of the delimiter (a CR,
    /// "--boundary" not at a line start, the delimiter with its last character changed), a binary file with CRLFs,
    /// an empty part and a part without header fields, then an epilogue.</summary>
    public static byte[] Sample()
    {
        var tricky = "a\r\r\n-\r\n--" + Boundary[..^1] + "X\r\n--" + Boundary[..10] + " --" + Boundary + "\r";
        var file = Enumerable.Range(0, 300).Select(i => (byte)(i * 7 % 256)).Concat("\r\n--\r\n"u8.ToArray()).ToArray();
        return Build(
            ("Content-Disposition: form-data; name=\"title\"", "hello world"u8.ToArray()),
            ("Content-Disposition: form-data; name=\"tricky\"", Encoding.ASCII.GetBytes(tricky)),
            ("Content-Disposition: form-data; name=\"file\"; filename=\"a b.bin\"\r\nContent-Type: application/octet-stream", file),
            ("Content-Disposition: form-data; name=\"empty\"", []),
            ("", "no headers"u8.ToArray()))
            .Prepend("preamble, ignored\r\n")
            .Append("\r\nepilogue, ignored\r\n")
            .Bytes();
    }

    /// <summary>Parts (header block without its final CRLF, data) between delimiters, closed by the final boundary.</summary>
    public static Writer Build(params (string Headers, byte[] Data)[] parts)
    {
        var w = new Writer();
        foreach (var (headers, data) in parts)
        {
            w.Text($"\r\n--{Boundary}\r\n");
            if (headers.Length > 0) w.Text(headers + "\r\n");
            w.Text("\r\n").Raw(data);
        }
        return w.Text($"\r\n--{Boundary}--");
    }

    /// <summary>Parts as the reader reports them: "Name: value|Name: value=hex of data" per part.</summary>
    public static async Task<List<string>> ReadParts(IEnumerable<ReadOnlyMemory<byte>> pieces, MultipartLimits? limits = null, string? contentType = null)
    {
        var body = new HttpRequestBody(null, empty: false);
        foreach (var piece in pieces) body.Push(piece);
        body.Complete();
        var reader = MultipartReader.Open(body, contentType ?? ContentType, limits ?? new MultipartLimits(), default);
        await using (reader)
        {
            var parts = new List<string>();
            while (await reader.NextPartAsync() is { } headers)
                parts.Add(Describe(headers, await reader.ReadPartAsync(int.MaxValue, "part")));
            return parts;
        }
    }

    public static string Describe(HttpHeaders headers, byte[] data) =>
        string.Join("|", headers.Select(h => $"{h.Key}: {h.Value}")) + "=" + Convert.ToHexString(data);

    /// <summary>Appends text (Latin-1, so every char is one byte) and raw bytes.</summary>
    internal sealed class Writer
    {
        private readonly MemoryStream _bytes = new();

        public Writer Text(string text) => Raw(Encoding.Latin1.GetBytes(text));

        public Writer Raw(byte[] data)
        {
            _bytes.Write(data);
            return this;
        }

        public Writer Prepend(string text)
        {
            var rest = _bytes.ToArray();
            _bytes.SetLength(0);
            return Text(text).Raw(rest);
        }

        public Writer Append(string text) => Text(text);

        public byte[] Bytes() => _bytes.ToArray();
    }
}
