using System.Security.Cryptography;
using System.Text;

namespace Asio2.Rx;

/// <summary>Why an upgrade request was refused; the HTTP status it gets is in <see cref="WebSocketHandshake.StatusOf"/>.</summary>
internal enum UpgradeRejection
{
    NotGet,
    HttpVersion,
    MissingUpgrade,
    MissingConnectionUpgrade,
    BadKey,
    UnsupportedVersion,
    OriginRefused,
}

/// <summary>What the server answers to a valid upgrade request: the headers of the 101 and what they agreed.</summary>
internal sealed record UpgradeAcceptance(IReadOnlyList<KeyValuePair<string, string>> ResponseHeaders, string? SubProtocol, NegotiatedDeflate? Deflate);

/// <summary>
/// The opening handshake of RFC 6455 §4, both sides, as pure functions over header fields: validate an upgrade
/// request and produce the 101's headers (server), build the request and check the 101 (client). No I/O here; the
/// HTTP layer reads and writes the messages.
/// </summary>
internal static class WebSocketHandshake
{
    /// <summary>RFC 6455 §1.3: the GUID appended to the key before hashing.</summary>
    private const string KeyGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>The only version this implementation (and every browser) speaks.</summary>
    public const string Version = "13";

    /// <summary>Sec-WebSocket-Accept for <paramref name="key"/>: base64(SHA-1(key + GUID)).</summary>
    public static string ComputeAccept(string key)
    {
        Span<byte> input = stackalloc byte[128];
        int n = Encoding.ASCII.GetBytes(key + KeyGuid, input);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(input[..n], hash);
        return Convert.ToBase64String(hash);
    }

    /// <summary>A fresh client key: 16 random bytes, base64 (§4.1).</summary>
    public static string CreateKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    /// <summary>The HTTP status a rejection gets: 426 with the supported version for a version mismatch (§4.4), 403
    /// for a refused origin (§4.2.2), 400 for everything malformed.</summary>
    public static int StatusOf(UpgradeRejection rejection) => rejection switch
    {
        UpgradeRejection.UnsupportedVersion => 426,
        UpgradeRejection.OriginRefused => 403,
        _ => 400,
    };

    /// <summary>True when the request asks for a WebSocket upgrade at all (an <c>Upgrade: websocket</c> field); such a
    /// request is then validated in full, and refused with 400 if malformed rather than served as plain HTTP.</summary>
    public static bool IsUpgradeRequest(HeaderList headers) => HasToken(headers, "Upgrade", "websocket");

    /// <summary>
    /// Validates an upgrade request (§4.2.1) and negotiates the subprotocol and permessage-deflate. Returns null and
    /// sets <paramref name="rejection"/> when it must be refused.
    /// </summary>
    public static UpgradeAcceptance? Accept(string method, Version httpVersion, HeaderList headers, WebSocketAcceptSettings settings, out UpgradeRejection rejection)
    {
        rejection = default;
        if (method != "GET") return Reject(UpgradeRejection.NotGet, out rejection);
        if (httpVersion < new Version(1, 1)) return Reject(UpgradeRejection.HttpVersion, out rejection);
        if (!HasToken(headers, "Upgrade", "websocket")) return Reject(UpgradeRejection.MissingUpgrade, out rejection);
        if (!HasToken(headers, "Connection", "upgrade")) return Reject(UpgradeRejection.MissingConnectionUpgrade, out rejection);
        // Exactly one version field holding "13"; anything else gets 426 naming the version we speak (§4.4).
        var versions = headers.GetAll("Sec-WebSocket-Version");
        if (versions.Count != 1 || versions[0].Trim() != Version) return Reject(UpgradeRejection.UnsupportedVersion, out rejection);
        var keys = headers.GetAll("Sec-WebSocket-Key");
        if (keys.Count != 1 || !IsValidKey(keys[0].Trim())) return Reject(UpgradeRejection.BadKey, out rejection);
        if (settings.OriginCheck is { } check && !check(headers.Get("Origin"))) return Reject(UpgradeRejection.OriginRefused, out rejection);

        var response = new List<KeyValuePair<string, string>>(5)
        {
            new("Upgrade", "websocket"),
            new("Connection", "Upgrade"),
            new("Sec-WebSocket-Accept", ComputeAccept(keys[0].Trim())),
        };
        string? subProtocol = SelectSubProtocol(headers, settings.SubProtocols);
        if (subProtocol is not null) response.Add(new("Sec-WebSocket-Protocol", subProtocol));
        NegotiatedDeflate? deflate = null;
        if (settings.Compression is { } compression && PerMessageDeflate.Accept(headers.GetAll("Sec-WebSocket-Extensions"), compression) is { } agreed)
        {
            deflate = agreed;
            response.Add(new("Sec-WebSocket-Extensions", agreed.ResponseHeader));
        }
        return new UpgradeAcceptance(response, subProtocol, deflate);
    }

    private static UpgradeAcceptance? Reject(UpgradeRejection why, out UpgradeRejection rejection)
    {
        rejection = why;
        return null;
    }

    /// <summary>§4.1: the key is base64 of exactly 16 bytes (24 characters with padding).</summary>
    private static bool IsValidKey(string key)
    {
        if (key.Length != 24) return false;
        Span<byte> decoded = stackalloc byte[18];
        return Convert.TryFromBase64String(key, decoded, out int n) && n == 16;
    }

    /// <summary>The server's first preference that the client offered, or null (no subprotocol: the client decides
    /// whether that is acceptable, §4.1 point 6).</summary>
    private static string? SelectSubProtocol(HeaderList headers, IReadOnlyList<string> serverPreference)
    {
        if (serverPreference.Count == 0) return null;
        var offered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in headers.GetAll("Sec-WebSocket-Protocol"))
            foreach (var token in field.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                offered.Add(token);
        foreach (var p in serverPreference)
            if (offered.Contains(p)) return p;
        return null;
    }

    /// <summary>True when a comma-separated header holds <paramref name="token"/> (case-insensitive), in any of its fields.</summary>
    internal static bool HasToken(HeaderList headers, string name, string token)
    {
        foreach (var field in headers.GetAll(name))
            foreach (var part in field.Split(',', StringSplitOptions.TrimEntries))
                if (part.Equals(token, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    // ---- client side ----

    /// <summary>The client's upgrade request (§4.1) as bytes: request line, Host, the handshake fields, the offered
    /// subprotocols and extension, then the caller's own fields.</summary>
    public static byte[] BuildRequest(Uri uri, string key, IReadOnlyList<string> subProtocols, string? extensionOffer,
        IReadOnlyList<KeyValuePair<string, string>> extraHeaders)
    {
        var sb = new StringBuilder(256);
        sb.Append("GET ").Append(string.IsNullOrEmpty(uri.PathAndQuery) ? "/" : uri.PathAndQuery).Append(" HTTP/1.1\r\n");
        sb.Append("Host: ").Append(uri.IsDefaultPort ? uri.IdnHost : $"{HostForHeader(uri)}:{uri.Port}").Append("\r\n");
        sb.Append("Upgrade: websocket\r\nConnection: Upgrade\r\n");
        sb.Append("Sec-WebSocket-Key: ").Append(key).Append("\r\n");
        sb.Append("Sec-WebSocket-Version: ").Append(Version).Append("\r\n");
        if (subProtocols.Count > 0) sb.Append("Sec-WebSocket-Protocol: ").AppendJoin(", ", subProtocols).Append("\r\n");
        if (extensionOffer is not null) sb.Append("Sec-WebSocket-Extensions: ").Append(extensionOffer).Append("\r\n");
        foreach (var (name, value) in extraHeaders)
        {
            if (!IsToken(name) || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                throw new ArgumentException($"The header '{name}' is not a valid HTTP field.", nameof(extraHeaders));
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        sb.Append("\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static string HostForHeader(Uri uri) => uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.IdnHost.Trim('[', ']')}]" : uri.IdnHost;

    private static bool IsToken(string s)
    {
        if (s.Length == 0) return false;
        foreach (char c in s)
            if (c <= ' ' || c >= 127 || "()<>@,;:\\\"/[]?={}".Contains(c)) return false;
        return true;
    }

    /// <summary>
    /// Checks the server's answer (§4.1, client requirements 1–6): 101, Upgrade and Connection, the accept value for
    /// our key, a subprotocol only among those offered, and an extension only as offered. Returns null and a message
    /// saying why when the connection must fail.
    /// </summary>
    public static ClientHandshakeResult? CheckResponse(int status, HeaderList headers, string key, IReadOnlyList<string> offeredSubProtocols,
        WebSocketCompressionOptions? offeredCompression, out string? failure)
    {
        failure = null;
        if (status != 101) return Fail($"the server answered {status} instead of 101 Switching Protocols", out failure);
        if (!HasToken(headers, "Upgrade", "websocket")) return Fail("the 101 has no 'Upgrade: websocket'", out failure);
        if (!HasToken(headers, "Connection", "upgrade")) return Fail("the 101 has no 'Connection: Upgrade'", out failure);
        var accept = headers.GetAll("Sec-WebSocket-Accept");
        if (accept.Count != 1 || accept[0].Trim() != ComputeAccept(key)) return Fail("Sec-WebSocket-Accept does not match the key", out failure);
        string? subProtocol = null;
        var protocols = headers.GetAll("Sec-WebSocket-Protocol");
        if (protocols.Count > 1) return Fail("the server chose more than one subprotocol", out failure);
        if (protocols.Count == 1)
        {
            subProtocol = protocols[0].Trim();
            if (!offeredSubProtocols.Contains(subProtocol, StringComparer.Ordinal))
                return Fail($"the server chose subprotocol '{subProtocol}', which was not offered", out failure);
        }
        NegotiatedDeflate? deflate = null;
        var extensions = headers.GetAll("Sec-WebSocket-Extensions");
        if (extensions.Count > 0)
        {
            if (offeredCompression is null) return Fail($"the server chose extension '{extensions[0]}', which was not offered", out failure);
            deflate = PerMessageDeflate.CheckResponse(extensions, offeredCompression, out failure);
            if (deflate is null) return null;
        }
        return new ClientHandshakeResult(subProtocol, deflate);
    }

    private static ClientHandshakeResult? Fail(string why, out string? failure)
    {
        failure = why;
        return null;
    }
}

/// <summary>What the client agreed with the server.</summary>
internal sealed record ClientHandshakeResult(string? SubProtocol, NegotiatedDeflate? Deflate);

/// <summary>Resolved server-side handshake settings.</summary>
internal sealed record WebSocketAcceptSettings(IReadOnlyList<string> SubProtocols, WebSocketCompressionOptions? Compression, Func<string?, bool>? OriginCheck);

/// <summary>Header fields in arrival order, looked up case-insensitively; a name may repeat.</summary>
internal sealed class HeaderList
{
    private readonly List<KeyValuePair<string, string>> _fields;

    public HeaderList(IEnumerable<KeyValuePair<string, string>> fields) => _fields = fields.ToList();

    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    /// <summary>The first value of <paramref name="name"/>, or null.</summary>
    public string? Get(string name)
    {
        foreach (var (k, v) in _fields)
            if (k.Equals(name, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }

    /// <summary>Every value of <paramref name="name"/>, in order.</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        List<string>? all = null;
        foreach (var (k, v) in _fields)
            if (k.Equals(name, StringComparison.OrdinalIgnoreCase)) (all ??= []).Add(v);
        return all ?? (IReadOnlyList<string>)[];
    }
}
