using System.Net.Sockets;
using System.Text.Json;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>asio2's RPC capture (shared/asio2/vectors/rpc.json) and what the tests need from it.</summary>
internal static class Asio2Capture
{
    private static readonly Lazy<JsonElement> s_root = new(() =>
        JsonDocument.Parse(File.ReadAllText(SharedFolder.Locate(Path.Combine("asio2", "vectors", "rpc.json")))).RootElement);

    public static JsonElement Root => s_root.Value;

    public static IEnumerable<JsonElement> Exchanges => Root.GetProperty("exchanges").EnumerateArray();

    public static IEnumerable<JsonElement> Malformed => Root.GetProperty("malformed").EnumerateArray();

    /// <summary>Every captured frame, named "call / dir".</summary>
    public static IEnumerable<(string Name, JsonElement Frame)> Frames =>
        Exchanges.SelectMany(e => e.GetProperty("frames").EnumerateArray()
            .Select(f => ($"{e.GetProperty("call").GetString()} / {f.GetProperty("dir").GetString()}", f)));

    /// <summary>The functions asio2's sample server binds (and the client's ping/log), in .NET.</summary>
    public static RpcBindings ServerFunctions(RpcBindings b) => b
        .Bind("add", (int a, int b) => a + b)
        .Bind("mul", (double a, double b) => a * b)
        .Bind("cat", (string a, string b) => a + b)
        .Bind("get_user", () => new User { Name = "lilei", Age = 32, Purview = { [1] = "read", [2] = "write" } })
        .Bind("del_user", (User u) => { })
        .Bind("echo_bytes", (byte[] b) => b)
        .Bind("neg", (long v) => -v)
        .Bind("flag", (bool b) => !b)
        .Bind("count", (List<string> v) => (ulong)v.Count)
        .Bind("boom", int () => throw new InvalidOperationException("boom"))
        .Bind("slow", (int ms) => ms);

    /// <summary>The .NET type of a captured value's "type".</summary>
    public static Type TypeOf(string captured) => captured switch
    {
        "int32" => typeof(int),
        "int64" => typeof(long),
        "uint64" => typeof(ulong),
        "double" => typeof(double),
        "bool" => typeof(bool),
        "string" => typeof(string),
        "vector<uint8_t>" => typeof(byte[]),
        "vector<string>" => typeof(List<string>),
        "user" => typeof(User),
        _ => throw new ArgumentException($"no .NET type for {captured}"),
    };

    /// <summary>A captured {type, value} as the .NET value it stands for.</summary>
    public static object ValueOf(JsonElement typed)
    {
        var v = typed.GetProperty("value");
        return typed.GetProperty("type").GetString() switch
        {
            "int32" => v.GetInt32(),
            "int64" => v.GetInt64(),
            "uint64" => v.GetUInt64(),
            "double" => v.GetDouble(),
            "bool" => v.GetBoolean(),
            "string" => v.GetString()!,
            "vector<uint8_t>" => Convert.FromHexString(v.GetString()!),
            "vector<string>" => v.EnumerateArray().Select(s => s.GetString()!).ToList(),
            "user" => new User
            {
                Name = v.GetProperty("name").GetString()!,
                Age = v.GetProperty("age").GetInt32(),
                Purview = v.GetProperty("purview").EnumerateObject().ToDictionary(p => int.Parse(p.Name), p => p.Value.GetString()!),
            },
            var t => throw new ArgumentException($"no .NET value for {t}"),
        };
    }

    /// <summary>A value in a form that compares by content (users and collections as JSON).</summary>
    public static string Canonical(object? value) => JsonSerializer.Serialize(value switch
    {
        byte[] b => Convert.ToHexString(b).ToLowerInvariant(),
        User u => new { u.Name, u.Age, Purview = u.Purview.OrderBy(p => p.Key).ToList() },
        _ => value,
    });

    public static byte[] Hex(JsonElement e, string property) => Convert.FromHexString(e.GetProperty(property).GetString()!);

    /// <summary>Reads one asio2 datagram frame (header included) from a raw socket; empty at end of stream.</summary>
    public static async Task<byte[]> ReadFrame(Socket socket)
    {
        var first = await Wait.ReadExactly(socket, 1);
        if (first.Length == 0) return [];
        int headerRest = first[0] switch { 0xFE => 2, 0xFF => 8, _ => 0 };
        var rest = await Wait.ReadExactly(socket, headerRest);
        long length = first[0] switch
        {
            0xFE => BitConverter.ToUInt16(rest),
            0xFF => BitConverter.ToInt64(rest),
            var n => n,
        };
        var payload = await Wait.ReadExactly(socket, (int)length);
        return [.. first, .. rest, .. payload];
    }
}
