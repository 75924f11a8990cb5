using System.Text;

namespace Asio2.Rx;

/// <summary>Form and query decoding.</summary>
public static class HttpForms
{
    /// <summary>Decodes <c>application/x-www-form-urlencoded</c> text (a query string or a form body): <c>+</c> is a
    /// space, escapes are UTF-8; a repeated name keeps its last value.</summary>
    public static IReadOnlyDictionary<string, string> ParseUrlEncoded(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (text.Length == 0) return result;
        foreach (var pair in text.Split('&'))
        {
            if (pair.Length == 0) continue;
            int eq = pair.IndexOf('=');
            var name = Decode(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Decode(pair[(eq + 1)..]);
            result[name] = value;
        }
        return result;
    }

    private static string Decode(string s)
    {
        if (s.IndexOfAny(['+', '%']) < 0) return s;
        s = s.Replace('+', ' ');
        try { return Uri.UnescapeDataString(s); }
        catch (UriFormatException) { return s; }
    }

    /// <summary>Reads a whole <c>application/x-www-form-urlencoded</c> body (at most <paramref name="maxBytes"/>) and decodes it.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ReadFormAsync(this HttpRequest request, int maxBytes = 1024 * 1024, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var bytes = await request.Body.ReadAllAsync(maxBytes, cancellationToken).ConfigureAwait(false);
        return ParseUrlEncoded(Encoding.UTF8.GetString(bytes));
    }
}
