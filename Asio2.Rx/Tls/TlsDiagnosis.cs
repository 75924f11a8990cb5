using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// Turns what a failed handshake left behind (the certificate verdict, the first bytes the peer sent, the
/// exception) into one <see cref="TlsHandshakeError"/> and a message that says what to fix.
/// </summary>
internal static class TlsDiagnosis
{
    /// <summary>The built-in certificate verdict as an error and message; (null, null) when it passed.</summary>
    public static (TlsHandshakeError? Error, string? Message) FromPolicyErrors(
        SslPolicyErrors errors, X509Certificate2? certificate, X509Chain? chain, bool isServer, string? host, bool customTrust)
    {
        if (errors == SslPolicyErrors.None) return (null, null);
        string peer = isServer ? "client" : "server";
        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return isServer
                ? (TlsHandshakeError.ClientCertificateRequired, "the client sent no certificate and this server requires one")
                : (TlsHandshakeError.CertificateRejected, "the server sent no certificate");
        }
        string subject = certificate?.Subject ?? "(unknown)";
        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            var flags = X509ChainStatusFlags.NoError;
            var details = new List<string>();
            if (chain is not null)
            {
                foreach (var s in chain.ChainStatus)
                {
                    flags |= s.Status;
                    if (!string.IsNullOrWhiteSpace(s.StatusInformation)) details.Add(s.StatusInformation.Trim());
                }
            }
            string detail = details.Count == 0 ? flags.ToString() : string.Join("; ", details.Distinct());
            if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.Cyclic)) != 0)
            {
                string trust = customTrust ? "the CAs in TrustedCaPem" : "the system's trusted roots";
                return (TlsHandshakeError.UntrustedCertificate,
                    $"the {peer}'s certificate '{subject}' does not chain to {trust} ({detail})");
            }
            if ((flags & (X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested | X509ChainStatusFlags.CtlNotTimeValid)) != 0)
                return (TlsHandshakeError.CertificateExpired, $"the {peer}'s certificate {DescribeValidity(certificate, chain)}");
            if ((flags & X509ChainStatusFlags.Revoked) != 0)
                return (TlsHandshakeError.CertificateRejected, $"the {peer}'s certificate '{subject}' is revoked ({detail})");
            return (TlsHandshakeError.CertificateRejected, $"the {peer}'s certificate '{subject}' failed verification ({detail})");
        }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return (TlsHandshakeError.NameMismatch, $"the server's certificate '{subject}' is not valid for '{host}' (it names {DescribeNames(certificate)})");
        return (TlsHandshakeError.CertificateRejected, $"the {peer}'s certificate '{subject}' failed verification ({errors})");
    }

    /// <summary>Classifies an exception thrown by the handshake.</summary>
    public static TlsHandshakeException FromException(Exception ex, HandshakeProbeStream probe, bool isServer)
    {
        if (ex is TlsHandshakeException t) return t;
        if (probe.Head.Length > 0 && !LooksLikeTls(probe.Head))
            return Fail(TlsHandshakeError.NotTls, $"the {(isServer ? "client" : "server")} does not speak TLS: it sent {Describe(probe.Head)}", ex);
        if (FromOpenSslText(ex) is { } known) return known;
        if (probe.SawEnd)
            return Fail(TlsHandshakeError.Truncated, $"the peer closed the connection in the middle of the handshake (after {probe.BytesRead} bytes)", ex);
        if (IsReset(ex))
            return Fail(TlsHandshakeError.Truncated, "the connection was reset in the middle of the handshake", ex);
        return Fail(TlsHandshakeError.Other, ex.Message, ex);
    }

    /// <summary>
    /// A TLS alert that arrives after this side considered the handshake done (TLS 1.3: a client learns that the
    /// server rejected its certificate only on its first read). Null when the exception is no TLS alert.
    /// </summary>
    public static TlsHandshakeException? FromLateAlert(Exception ex) =>
        OpenSslReason(ex) is { } text && text.Contains("alert", StringComparison.OrdinalIgnoreCase) ? FromOpenSslText(ex) : null;

    private static TlsHandshakeException? FromOpenSslText(Exception ex)
    {
        if (OpenSslReason(ex) is not { } text) return null;
        bool Has(string s) => text.Contains(s, StringComparison.OrdinalIgnoreCase);
        if (Has("certificate required"))
            return Fail(TlsHandshakeError.ClientCertificateRequired, $"the server requires a client certificate (set TlsClientOptions.ClientCertificate): {text}", ex);
        if (Has("protocol version") || Has("unsupported protocol") || Has("no protocols available") || Has("version too low")
            || Has("no shared cipher") || Has("no cipher") || Has("no application protocol") || Has("no suitable signature"))
            return Fail(TlsHandshakeError.NoCommonProtocol, $"the two sides share no TLS version, cipher suite or ALPN protocol: {text}", ex);
        if (Has("alert"))
            return Fail(TlsHandshakeError.RejectedByPeer, $"the peer aborted the handshake: {text}", ex);
        if (Has("wrong version number") || Has("http request") || Has("packet length too long") || Has("unknown protocol"))
            return Fail(TlsHandshakeError.NotTls, $"the peer does not speak TLS: {text}", ex);
        return null;
    }

    /// <summary>The reason text of the innermost OpenSSL error ("tlsv1 alert unknown ca"), if the exception has one.</summary>
    private static string? OpenSslReason(Exception ex)
    {
        string? found = null;
        for (var e = ex; e is not null; e = e.InnerException)
        {
            // Interop+Crypto+OpenSslCryptographicException: "error:0A000418:SSL routines::tlsv1 alert unknown ca"
            int at = e.Message.IndexOf("routines:", StringComparison.Ordinal);
            if (at < 0) continue;
            var rest = e.Message[(at + "routines:".Length)..];
            int colon = rest.LastIndexOf(':');
            found = (colon >= 0 ? rest[(colon + 1)..] : rest).Trim();
        }
        return found;
    }

    private static bool IsReset(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted } or ConnectionResetException)
                return true;
        return false;
    }

    /// <summary>
    /// A TLS record starts with a content type (20 change_cipher_spec, 21 alert, 22 handshake, 23 application data)
    /// and major version 3 (RFC 8446 §5.1); an SSL 2.0-compatible ClientHello starts with the high bit set.
    /// </summary>
    private static bool LooksLikeTls(ReadOnlySpan<byte> head)
    {
        byte type = head[0];
        if ((type & 0x80) != 0) return true;
        if (type is < 20 or > 23) return false;
        return head.Length < 2 || head[1] == 3;
    }

    private static string Describe(ReadOnlySpan<byte> head)
    {
        bool printable = true;
        foreach (var b in head) printable &= b is >= 0x20 and < 0x7f or (byte)'\r' or (byte)'\n' or (byte)'\t';
        if (printable)
        {
            var text = Encoding.ASCII.GetString(head).Replace("\r", "\\r").Replace("\n", "\\n");
            return $"plaintext \"{text}\"";
        }
        return $"bytes {Convert.ToHexString(head)}";
    }

    private static string DescribeValidity(X509Certificate2? leaf, X509Chain? chain)
    {
        var now = DateTime.Now;
        var bad = chain?.ChainElements.Cast<X509ChainElement>()
            .Select(e => e.Certificate)
            .FirstOrDefault(c => c.NotAfter < now || c.NotBefore > now) ?? leaf;
        if (bad is null) return "is outside its validity period";
        string which = leaf is not null && bad.Thumbprint == leaf.Thumbprint ? $"'{bad.Subject}'" : $"chain certificate '{bad.Subject}'";
        return bad.NotAfter < now
            ? $"{which} expired on {bad.NotAfter.ToUniversalTime():u}"
            : $"{which} is not valid before {bad.NotBefore.ToUniversalTime():u}";
    }

    private static string DescribeNames(X509Certificate2? certificate)
    {
        if (certificate is null) return "nothing";
        var names = new List<string>();
        foreach (var ext in certificate.Extensions)
        {
            if (ext is not X509SubjectAlternativeNameExtension san) continue;
            names.AddRange(san.EnumerateDnsNames());
            names.AddRange(san.EnumerateIPAddresses().Select(ip => ip.ToString()));
        }
        if (names.Count == 0) names.Add(certificate.GetNameInfo(X509NameType.SimpleName, false));
        return string.Join(", ", names);
    }

    public static TlsHandshakeException Fail(TlsHandshakeError error, string message, Exception? inner = null) =>
        new(error, "TLS handshake failed: " + message, inner);
}
