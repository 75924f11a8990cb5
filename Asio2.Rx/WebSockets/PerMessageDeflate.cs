using System.Net.WebSockets;
using System.Text;

namespace Asio2.Rx;

/// <summary>
/// permessage-deflate (RFC 7692) for <see cref="WebSocketOptions.Compression"/>. Off unless set: compressing secrets next to attacker-controlled
/// data leaks them (CRIME/BREACH), so it is opt-in, as in Kestrel; a message that carries a secret can still be sent
/// uncompressed with <see cref="WebSocketSession.Send(ReadOnlySpan{byte}, FrameKind, bool)"/>.
/// </summary>
public sealed class WebSocketCompressionOptions
{
    private int _serverMaxWindowBits = 15;
    private int _clientMaxWindowBits = 15;

    /// <summary>LZ77 window (log2 bytes) the server compresses with, 9..15. Defaults to 15 (32 KiB, zlib's default).
    /// A server uses at most this; a client asks the server for at most this. 8 is not offered: zlib silently uses 9.</summary>
    public int ServerMaxWindowBits
    {
        get => _serverMaxWindowBits;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 9); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 15); _serverMaxWindowBits = value; }
    }

    /// <summary>LZ77 window the client compresses with, 9..15. Defaults to 15. A client uses at most this; a server
    /// asks the client for at most this when the client allows it (offers <c>client_max_window_bits</c>).</summary>
    public int ClientMaxWindowBits
    {
        get => _clientMaxWindowBits;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 9); ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 15); _clientMaxWindowBits = value; }
    }

    /// <summary>Whether the server keeps its compression context between messages (better ratio, 32 KiB+ of memory per
    /// session). False sends/asks for <c>server_no_context_takeover</c>. Defaults to true.</summary>
    public bool ServerContextTakeover { get; set; } = true;

    /// <summary>Whether the client keeps its compression context between messages. False sends/asks for
    /// <c>client_no_context_takeover</c>. Defaults to true.</summary>
    public bool ClientContextTakeover { get; set; } = true;

    internal WebSocketCompressionOptions Clone() => (WebSocketCompressionOptions)MemberwiseClone();
}

/// <summary>What both sides agreed: the options for <see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>
/// and, on the server, the extension field of the 101.</summary>
internal sealed record NegotiatedDeflate(WebSocketDeflateOptions Options, string ResponseHeader);

/// <summary>RFC 7692 §7 negotiation, both sides. Pure.</summary>
internal static class PerMessageDeflate
{
    public const string Name = "permessage-deflate";

    private sealed class Offer
    {
        public bool ServerNoContextTakeover;
        public bool ClientNoContextTakeover;
        public int? ServerMaxWindowBits;
        public bool HasClientMaxWindowBits;
        public int? ClientMaxWindowBits;
    }

    /// <summary>The client's offer for <paramref name="options"/>. <c>client_max_window_bits</c> is always included:
    /// it tells the server it may limit our window (§7.1.2.2).</summary>
    public static string CreateOffer(WebSocketCompressionOptions options)
    {
        var sb = new StringBuilder(Name);
        sb.Append("; client_max_window_bits");
        if (options.ClientMaxWindowBits < 15) sb.Append('=').Append(options.ClientMaxWindowBits);
        if (options.ServerMaxWindowBits < 15) sb.Append("; server_max_window_bits=").Append(options.ServerMaxWindowBits);
        if (!options.ServerContextTakeover) sb.Append("; server_no_context_takeover");
        if (!options.ClientContextTakeover) sb.Append("; client_no_context_takeover");
        return sb.ToString();
    }

    /// <summary>
    /// Server side: accepts the first permessage-deflate offer it can honour (§5: offers in the client's preference
    /// order; an offer with an unknown, repeated or invalid parameter is declined, not an error). Null: no compression.
    /// </summary>
    public static NegotiatedDeflate? Accept(IReadOnlyList<string> extensionFields, WebSocketCompressionOptions ours)
    {
        foreach (var field in extensionFields)
        {
            foreach (var element in SplitOutsideQuotes(field, ','))
            {
                if (!TryParse(element, out string? name, out var offer) || name != Name) continue;
                // The client may demand a server window we cannot produce (8: zlib rounds it up to 9): decline.
                if (offer.ServerMaxWindowBits is < 9) continue;
                int serverBits = Math.Min(ours.ServerMaxWindowBits, offer.ServerMaxWindowBits ?? 15);
                bool serverNoContext = offer.ServerNoContextTakeover || !ours.ServerContextTakeover;
                bool clientNoContext = offer.ClientNoContextTakeover || !ours.ClientContextTakeover;
                // We may limit the client's window only if it said it can be limited (§7.1.2.2).
                int clientBits = offer.HasClientMaxWindowBits ? Math.Min(ours.ClientMaxWindowBits, offer.ClientMaxWindowBits ?? 15) : 15;

                var response = new StringBuilder(Name);
                if (serverNoContext) response.Append("; server_no_context_takeover");
                if (clientNoContext) response.Append("; client_no_context_takeover");
                if (offer.ServerMaxWindowBits is not null || serverBits < 15) response.Append("; server_max_window_bits=").Append(serverBits);
                if (offer.HasClientMaxWindowBits && clientBits < 15) response.Append("; client_max_window_bits=").Append(clientBits);
                var options = new WebSocketDeflateOptions
                {
                    ServerMaxWindowBits = serverBits,
                    ServerContextTakeover = !serverNoContext,
                    // Inflating with a window at least as large as the peer's is always correct; zlib's minimum is 9.
                    ClientMaxWindowBits = Math.Max(9, clientBits),
                    ClientContextTakeover = !clientNoContext,
                };
                return new NegotiatedDeflate(options, response.ToString());
            }
        }
        return null;
    }

    /// <summary>Client side: checks the server's extension fields against what we offered (§7.1). Null and a reason
    /// when the connection must fail.</summary>
    public static NegotiatedDeflate? CheckResponse(IReadOnlyList<string> extensionFields, WebSocketCompressionOptions offered, out string? failure)
    {
        failure = null;
        var elements = extensionFields.SelectMany(f => SplitOutsideQuotes(f, ',')).Where(e => e.Trim().Length > 0).ToList();
        if (elements.Count != 1)
        {
            failure = "the server answered with more than one extension";
            return null;
        }
        if (!TryParse(elements[0], out string? name, out var answer) || name != Name)
        {
            failure = $"the server answered with an extension that was not offered or is malformed: '{elements[0].Trim()}'";
            return null;
        }
        if (answer.HasClientMaxWindowBits && answer.ClientMaxWindowBits is null)
        {
            failure = "client_max_window_bits in the response needs a value";
            return null;
        }
        if (offered.ServerMaxWindowBits < 15 && (answer.ServerMaxWindowBits is not { } s || s > offered.ServerMaxWindowBits))
        {
            failure = $"the server did not accept server_max_window_bits={offered.ServerMaxWindowBits}";
            return null;
        }
        if (!offered.ServerContextTakeover && !answer.ServerNoContextTakeover)
        {
            failure = "the server did not accept server_no_context_takeover";
            return null;
        }
        int clientBits = Math.Min(offered.ClientMaxWindowBits, answer.ClientMaxWindowBits ?? 15);
        if (clientBits < 9)
        {
            failure = "the server asked for client_max_window_bits=8, which zlib cannot honour";
            return null;
        }
        var options = new WebSocketDeflateOptions
        {
            ClientMaxWindowBits = clientBits,
            ClientContextTakeover = offered.ClientContextTakeover && !answer.ClientNoContextTakeover,
            ServerMaxWindowBits = Math.Max(9, answer.ServerMaxWindowBits ?? 15),
            ServerContextTakeover = !answer.ServerNoContextTakeover,
        };
        return new NegotiatedDeflate(options, elements[0].Trim());
    }

    /// <summary>Parses one extension element "name; param; param=value". False for a repeated, unknown or invalid
    /// parameter of permessage-deflate (§7: such an offer is declined, such a response fails the connection).</summary>
    private static bool TryParse(string element, out string? name, out Offer offer)
    {
        offer = new Offer();
        var parts = SplitOutsideQuotes(element, ';');
        name = parts.Count > 0 ? parts[0].Trim().ToLowerInvariant() : null;
        if (name != Name) return name is { Length: > 0 };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < parts.Count; i++)
        {
            string p = parts[i].Trim();
            int eq = p.IndexOf('=');
            string key = (eq < 0 ? p : p[..eq]).Trim().ToLowerInvariant();
            string? value = eq < 0 ? null : Unquote(p[(eq + 1)..].Trim());
            if (!seen.Add(key)) return false;
            switch (key)
            {
                case "server_no_context_takeover" when value is null:
                    offer.ServerNoContextTakeover = true;
                    break;
                case "client_no_context_takeover" when value is null:
                    offer.ClientNoContextTakeover = true;
                    break;
                case "server_max_window_bits" when TryBits(value, out int sb):
                    offer.ServerMaxWindowBits = sb;
                    break;
                case "client_max_window_bits" when value is null:
                    offer.HasClientMaxWindowBits = true;
                    break;
                case "client_max_window_bits" when TryBits(value, out int cb):
                    offer.HasClientMaxWindowBits = true;
                    offer.ClientMaxWindowBits = cb;
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    /// <summary>§7.1.2: 1*DIGIT in 8..15 with no leading zero.</summary>
    private static bool TryBits(string? value, out int bits)
    {
        bits = 0;
        if (value is null || value.Length is 0 or > 2 || value[0] == '0') return false;
        foreach (char c in value)
            if (c is < '0' or > '9') return false;
        bits = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        return bits is >= 8 and <= 15;
    }

    /// <summary>A quoted-string value is allowed (§7.1); a stray quote leaves a value no parameter accepts.</summary>
    private static string Unquote(string v) => v.Length >= 2 && v[0] == '"' && v[^1] == '"' ? v[1..^1] : v;

    private static List<string> SplitOutsideQuotes(string s, char separator)
    {
        var parts = new List<string>();
        bool quoted = false;
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '"') quoted = !quoted;
            else if (s[i] == separator && !quoted)
            {
                parts.Add(s[start..i]);
                start = i + 1;
            }
        }
        parts.Add(s[start..]);
        return parts;
    }
}
