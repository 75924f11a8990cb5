using System.Collections;

namespace Asio2.Rx;

/// <summary>
/// Header fields in the order they arrived; names compare case-insensitively. Repeated fields stay separate entries
/// (<see cref="GetValues"/> returns each); <see cref="this[string]"/> joins them with ", " as RFC 9110 §5.3 allows.
/// </summary>
public sealed class HttpHeaders : IEnumerable<KeyValuePair<string, string>>
{
    private readonly List<KeyValuePair<string, string>> _fields;

    /// <summary>Creates an empty collection.</summary>
    public HttpHeaders() => _fields = new List<KeyValuePair<string, string>>();

    internal HttpHeaders(int capacity) => _fields = new List<KeyValuePair<string, string>>(capacity);

    /// <summary>Number of fields (a repeated name counts once per line).</summary>
    public int Count => _fields.Count;

    /// <summary>The field's value (repeated fields joined with ", "), or null when absent.</summary>
    public string? this[string name]
    {
        get
        {
            string? found = null;
            foreach (var f in _fields)
            {
                if (!string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase)) continue;
                found = found is null ? f.Value : found + ", " + f.Value;
            }
            return found;
        }
    }

    /// <summary>True when at least one field has this name.</summary>
    public bool Contains(string name)
    {
        foreach (var f in _fields)
            if (string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Each value of the fields with this name, in order.</summary>
    public IEnumerable<string> GetValues(string name)
    {
        foreach (var f in _fields)
            if (string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase)) yield return f.Value;
    }

    /// <summary>Adds a field (another line, even when the name is present).</summary>
    public void Add(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        _fields.Add(new(name, value));
    }

    /// <summary>Replaces every field with this name by one field.</summary>
    public void Set(string name, string value)
    {
        Remove(name);
        Add(name, value);
    }

    /// <summary>Removes every field with this name; true when there was one.</summary>
    public bool Remove(string name) => _fields.RemoveAll(f => string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase)) > 0;

    internal void AddParsed(string name, string value) => _fields.Add(new(name, value));

    /// <summary>The fields, for a <c>foreach</c> that does not box the enumerator.</summary>
    internal List<KeyValuePair<string, string>> Fields => _fields;

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
