namespace Asio2.Rx;

/// <summary>Why the server refused a request before (or while) reading it. Each maps to one status code.</summary>
public enum HttpRejection
{
    /// <summary>The request line is malformed (method, target or version syntax, bare LF, stray whitespace). 400.</summary>
    InvalidRequestLine,
    /// <summary>The request target is not an origin-form path (absolute-form, authority-form, bad characters or
    /// escapes, <c>*</c> outside OPTIONS). 400.</summary>
    InvalidRequestTarget,
    /// <summary>The request line exceeds <see cref="HttpLimits.MaxRequestLineSize"/>. 414.</summary>
    RequestLineTooLong,
    /// <summary>A header line is malformed (obs-fold, whitespace before the colon, bad name or value characters,
    /// bare LF, NUL). 400.</summary>
    InvalidHeader,
    /// <summary>The header section exceeds <see cref="HttpLimits.MaxRequestHeadersTotalSize"/> or
    /// <see cref="HttpLimits.MaxRequestHeaderCount"/>. 431.</summary>
    HeadersTooLarge,
    /// <summary>An HTTP/1.1 request without exactly one valid <c>Host</c>. 400.</summary>
    InvalidHost,
    /// <summary>A <c>Content-Length</c> that is not a number, overflows, or disagrees with another. 400.</summary>
    InvalidContentLength,
    /// <summary>Both <c>Transfer-Encoding</c> and <c>Content-Length</c> (RFC 9112 §6.1: a smuggling vector). 400.</summary>
    ConflictingLength,
    /// <summary>A <c>Transfer-Encoding</c> whose final coding is not <c>chunked</c>, chunked twice, or in HTTP/1.0. 400.</summary>
    InvalidTransferEncoding,
    /// <summary>A transfer coding this server does not implement (gzip, deflate, ...). 501.</summary>
    UnsupportedTransferEncoding,
    /// <summary>A malformed chunked body: bad or overflowing chunk size, bad extension, missing CRLF, bare LF. 400.</summary>
    InvalidChunk,
    /// <summary>The body exceeds <see cref="HttpLimits.MaxRequestBodySize"/>. 413.</summary>
    BodyTooLarge,
    /// <summary>An HTTP version other than 1.0 and 1.1. 505.</summary>
    UnsupportedVersion,
    /// <summary>An <c>Expect</c> other than <c>100-continue</c>. 417.</summary>
    UnsupportedExpectation,
    /// <summary>The header section did not arrive within <see cref="HttpLimits.RequestHeadersTimeout"/>. 408.</summary>
    RequestHeadersTimeout,
    /// <summary>The body arrived slower than <see cref="HttpLimits.MinRequestBodyDataRate"/>. 408.</summary>
    BodyDataRateTooLow,
    /// <summary>The body was read as multipart but its <c>Content-Type</c> is not <c>multipart/*</c>. 415.</summary>
    NotMultipart,
    /// <summary>A malformed multipart body: no or invalid boundary parameter, a bad part header line, bare LF, bytes
    /// other than padding and CRLF after a boundary, a form part without a name. 400.</summary>
    InvalidMultipart,
    /// <summary>A multipart body that ended before its final boundary (<c>--boundary--</c>). 400.</summary>
    MultipartIncomplete,
    /// <summary>More parts than <see cref="MultipartLimits.MaxParts"/>. 413.</summary>
    MultipartTooManyParts,
    /// <summary>A part's header section exceeds <see cref="MultipartLimits.MaxPartHeadersSize"/>. 413.</summary>
    MultipartHeadersTooLarge,
    /// <summary>A part's body exceeds <see cref="MultipartLimits.MaxPartSize"/> (or a form field
    /// <see cref="MultipartLimits.MaxFieldSize"/>). 413.</summary>
    MultipartPartTooLarge,
    /// <summary>The multipart body exceeds <see cref="MultipartLimits.MaxBodySize"/>. 413.</summary>
    MultipartBodyTooLarge,
}

/// <summary>A request the server refused: the reason, and the status it answered with.</summary>
public sealed class HttpRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HttpRejectedException(HttpRejection reason, string message) : base(message) => Reason = reason;

    /// <summary>Why the request was refused.</summary>
    public HttpRejection Reason { get; }

    /// <summary>The status code the server answers with.</summary>
    public int StatusCode => StatusOf(Reason);

    internal static int StatusOf(HttpRejection reason) => reason switch
    {
        HttpRejection.RequestLineTooLong => 414,
        HttpRejection.HeadersTooLarge => 431,
        HttpRejection.UnsupportedTransferEncoding => 501,
        HttpRejection.BodyTooLarge or HttpRejection.MultipartTooManyParts or HttpRejection.MultipartHeadersTooLarge
            or HttpRejection.MultipartPartTooLarge or HttpRejection.MultipartBodyTooLarge => 413,
        HttpRejection.NotMultipart => 415,
        HttpRejection.UnsupportedVersion => 505,
        HttpRejection.UnsupportedExpectation => 417,
        HttpRejection.RequestHeadersTimeout or HttpRejection.BodyDataRateTooLow => 408,
        _ => 400,
    };
}
