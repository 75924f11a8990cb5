using System.Text;
using static Asio2.Rx.Tests.Http.MultipartKit;

namespace Asio2.Rx.Tests.Http;

/// <summary>The multipart reader (RFC 2046 §5.1.1 / RFC 7578) over body pieces: every split of the input, malformed
/// bodies, each limit crossed by one byte and met exactly.</summary>
public sealed class MultipartReaderTests
{
    private static readonly byte[] Body = Sample();

    private static IEnumerable<ReadOnlyMemory<byte>> Split(byte[] data, params int[] at)
    {
        int from = 0;
        foreach (int i in at.Append(data.Length))
        {
            yield return data.AsMemory(from, i - from);
            from = i;
        }
    }

    [Fact]
    public async Task WholeBody_YieldsEveryPart_WithoutPreambleOrEpilogue()
    {
        var parts = await ReadParts([Body]);
        Assert.Equal(5, parts.Count);
        Assert.Equal("Content-Disposition: form-data; name=\"title\"=" + Convert.ToHexString("hello world"u8), parts[0]);
        Assert.Contains(Convert.ToHexString(Encoding.ASCII.GetBytes("--" + Boundary + "\r")), parts[1]); // not at a line start: data
        Assert.StartsWith("Content-Disposition: form-data; name=\"file\"; filename=\"a b.bin\"|Content-Type: application/octet-stream=", parts[2]);
        Assert.EndsWith(Convert.ToHexString("\r\n--\r\n"u8), parts[2]);
        Assert.Equal("Content-Disposition: form-data; name=\"empty\"=", parts[3]);
        Assert.Equal("=" + Convert.ToHexString("no headers"u8), parts[4]);
    }

    [Fact]
    public async Task EverySplitOffset_YieldsTheSameParts()
    {
        var whole = await ReadParts([Body]);
        for (int k = 1; k < Body.Length; k++)
            Assert.True(whole.SequenceEqual(await ReadParts(Split(Body, k))), $"split at {k}");
    }

    [Fact]
    public async Task ByteByByte_AndRandomThreeWaySplits_YieldTheSameParts()
    {
        var whole = await ReadParts([Body]);
        Assert.Equal(whole, await ReadParts(Enumerable.Range(0, Body.Length).Select(i => (ReadOnlyMemory<byte>)Body.AsMemory(i, 1))));
        var random = new Random(10);
        for (int n = 0; n < 2000; n++)
        {
            int a = random.Next(1, Body.Length - 1), b = random.Next(a + 1, Body.Length);
            Assert.True(whole.SequenceEqual(await ReadParts(Split(Body, a, b))), $"split at {a} and {b}");
        }
    }

    [Fact]
    public async Task BodyStartingWithTheBoundary_AndAQuotedBoundaryParameter_AreRead()
    {
        var body = Build(("Content-Disposition: form-data; name=\"a\"", "1"u8.ToArray())).Bytes()[2..]; // no CRLF before the first boundary
        var parts = await ReadParts([body], contentType: $"multipart/form-data; charset=utf-8; boundary=\"{Boundary}\"");
        Assert.Equal("Content-Disposition: form-data; name=\"a\"=31", Assert.Single(parts));
    }

    public static TheoryData<string, string, string, HttpRejection> Malformed()
    {
        string b = Boundary, part = "Content-Disposition: form-data; name=\"a\"";
        var ct = ContentType;
        return new()
        {
            { "empty body", ct, "", HttpRejection.MultipartIncomplete },
            { "only a preamble", ct, "no boundary at all\r\n", HttpRejection.MultipartIncomplete },
            { "no final boundary", ct, $"--{b}\r\n{part}\r\n\r\ndata\r\n--{b}", HttpRejection.MultipartIncomplete },
            { "cut inside a part", ct, $"--{b}\r\n{part}\r\n\r\ndata that goes on", HttpRejection.MultipartIncomplete },
            { "cut inside part headers", ct, $"--{b}\r\n{part}\r\n", HttpRejection.MultipartIncomplete },
            { "garbage after a boundary", ct, $"--{b}garbage\r\n{part}\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "bare LF after a boundary", ct, $"--{b}\n{part}\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "single dash after a boundary", ct, $"--{b}-\r\n", HttpRejection.InvalidMultipart },
            { "bare LF in part headers", ct, $"--{b}\r\n{part}\nX-A: 1\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "bare CR in part headers", ct, $"--{b}\r\n{part}\rX-A: 1\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "obs-fold", ct, $"--{b}\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "header without a colon", ct, $"--{b}\r\nNoColonHere\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "whitespace before the colon", ct, $"--{b}\r\nContent-Disposition : form-data\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "NUL in a header value", ct, $"--{b}\r\nX-A: a\0b\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "not multipart", "text/plain", $"--{b}\r\n\r\nx\r\n--{b}--", HttpRejection.NotMultipart },
            { "no content type", "", $"--{b}\r\n\r\nx\r\n--{b}--", HttpRejection.NotMultipart },
            { "no boundary parameter", "multipart/form-data", $"--{b}\r\n\r\nx\r\n--{b}--", HttpRejection.InvalidMultipart },
            { "boundary of 71 characters", "multipart/form-data; boundary=" + new string('a', 71), "", HttpRejection.InvalidMultipart },
            { "boundary with a character outside bchars", "multipart/form-data; boundary=a@b", "", HttpRejection.InvalidMultipart },
            { "boundary ending in a space", "multipart/form-data; boundary=\"ab \"", "", HttpRejection.InvalidMultipart },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedBody_IsRefusedWithItsReason(string name, string contentType, string body, HttpRejection reason)
    {
        var error = await Assert.ThrowsAsync<HttpRejectedException>(() => ReadParts([Encoding.Latin1.GetBytes(body)], contentType: contentType));
        Assert.True(reason == error.Reason, $"{name}: {error.Reason} ({error.Message})");
        Assert.Equal(reason == HttpRejection.NotMultipart ? 415 : 400, error.StatusCode);
    }

    public static TheoryData<string, Func<int, MultipartLimits>, int, HttpRejection> Limits()
    {
        var fileHeaders = "Content-Disposition: form-data; name=\"file\"; filename=\"a b.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        return new()
        {
            { "parts", n => new MultipartLimits { MaxParts = n }, 5, HttpRejection.MultipartTooManyParts },
            { "part headers", n => new MultipartLimits { MaxPartHeadersSize = n }, fileHeaders.Length, HttpRejection.MultipartHeadersTooLarge },
            { "part size", n => new MultipartLimits { MaxPartSize = n }, 306, HttpRejection.MultipartPartTooLarge },
            { "body size", n => new MultipartLimits { MaxBodySize = n }, Body.Length, HttpRejection.MultipartBodyTooLarge },
        };
    }

    [Theory]
    [MemberData(nameof(Limits))]
    public async Task EachLimit_MetExactly_IsAccepted_AndCrossedByOne_IsRefused(string name, Func<int, MultipartLimits> limits, int exact, HttpRejection reason)
    {
        foreach (var pieces in new ReadOnlyMemory<byte>[][] { [Body], Split(Body, Body.Length / 3, Body.Length / 2).ToArray() })
        {
            Assert.Equal(5, (await ReadParts(pieces, limits(exact))).Count);
            var error = await Assert.ThrowsAsync<HttpRejectedException>(() => ReadParts(pieces, limits(exact - 1)));
            Assert.True(reason == error.Reason, $"{name}: {error.Reason} ({error.Message})");
            Assert.Equal(413, error.StatusCode);
        }
    }

    [Theory]
    [InlineData("form-data; name=\"field\"; filename=\"a.txt\"", "field", "a.txt")]
    [InlineData("form-data; name=field; filename=plain.txt", "field", "plain.txt")]
    [InlineData("form-data; name=\"q\\\"uote\"; filename=\"C:\\dir\\x.txt\"", "q\"uote", "C:\\dir\\x.txt")]
    [InlineData("form-data; name=\"semi;colon\"; filename=\"naïve.txt\"", "semi;colon", "naïve.txt")]
    [InlineData("form-data; name=\"f\"; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt", "f", "€ rates.txt")]
    [InlineData("form-data; filename*=UTF-8''%E2%82%AC.txt; filename=\"fallback.txt\"; name=\"f\"", "f", "€.txt")]
    public void ContentDisposition_QuotedEscapedAndExtendedValues_AreDecoded(string header, string name, string fileName)
    {
        var (value, parameters) = HeaderParameters.Parse(header);
        Assert.Equal("form-data", value);
        Assert.Equal(name, parameters["name"]);
        Assert.Equal(fileName, parameters["filename"]);
    }
}
