namespace Asio2.Rx.Tests.WebSockets;

/// <summary>RFC 6455 §4 opening handshake, server and client side, as pure functions.</summary>
public class WebSocketHandshakeTests
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    private static HeaderList Valid(params (string, string)[] extra)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("Host", "server.example.com"),
            new("Upgrade", "websocket"),
            new("Connection", "keep-alive, Upgrade"),
            new("Sec-WebSocket-Key", Key),
            new("Sec-WebSocket-Version", "13"),
        };
        foreach (var (k, v) in extra) fields.Add(new(k, v));
        return new HeaderList(fields);
    }

    private static HeaderList Without(string name, params (string, string)[] replacement) =>
        new(Valid().Fields.Where(f => !f.Key.Equals(name, StringComparison.OrdinalIgnoreCase))
            .Concat(replacement.Select(r => new KeyValuePair<string, string>(r.Item1, r.Item2))));

    private static readonly WebSocketAcceptSettings Plain = new([], null, null);

    [Fact]
    public void ComputeAccept_MatchesTheRfcExample() =>
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketHandshake.ComputeAccept(Key));

    [Fact]
    public void ValidRequest_IsAccepted_WithUpgradeConnectionAndAccept()
    {
        var accepted = WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(), Plain, out _);
        Assert.NotNull(accepted);
        var h = new HeaderList(accepted.ResponseHeaders);
        Assert.Equal("websocket", h.Get("Upgrade"));
        Assert.Equal("Upgrade", h.Get("Connection"));
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", h.Get("Sec-WebSocket-Accept"));
        Assert.Null(h.Get("Sec-WebSocket-Protocol"));
        Assert.Null(h.Get("Sec-WebSocket-Extensions"));
    }

    public static TheoryData<string, string, string, string, int> Malformed => new()
    {
        { "POST", "1.1", "", nameof(UpgradeRejection.NotGet), 400 },
        { "GET", "1.0", "", nameof(UpgradeRejection.HttpVersion), 400 },
        { "GET", "1.1", "Upgrade", nameof(UpgradeRejection.MissingUpgrade), 400 },
        { "GET", "1.1", "Connection", nameof(UpgradeRejection.MissingConnectionUpgrade), 400 },
        { "GET", "1.1", "Sec-WebSocket-Key", nameof(UpgradeRejection.BadKey), 400 },
        { "GET", "1.1", "Sec-WebSocket-Version", nameof(UpgradeRejection.UnsupportedVersion), 426 },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedRequest_IsRefused_WithItsStatus(string method, string version, string missing, string expected, int status)
    {
        var headers = missing == "" ? Valid() : Without(missing);
        Assert.Null(WebSocketHandshake.Accept(method, Version.Parse(version), headers, Plain, out var why));
        Assert.Equal(expected, why.ToString());
        Assert.Equal(status, WebSocketHandshake.StatusOf(why));
    }

    [Theory]
    [InlineData("dGhlIHNhbXBsZSBub25jZQ")]          // no padding
    [InlineData("dGhlIHNhbXBsZSBub25j")]            // 15 bytes... and the wrong length
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAA")]    // 21 bytes
    [InlineData("not base64 at all!!!!!!!")]
    public void KeyThatIsNotBase64Of16Bytes_Is400(string key)
    {
        Assert.Null(WebSocketHandshake.Accept("GET", new Version(1, 1), Without("Sec-WebSocket-Key", ("Sec-WebSocket-Key", key)), Plain, out var why));
        Assert.Equal(UpgradeRejection.BadKey, why);
    }

    [Fact]
    public void TwoKeys_Is400() =>
        Assert.Null(WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(("Sec-WebSocket-Key", Key)), Plain, out _));

    [Theory]
    [InlineData("8")]
    [InlineData("12")]
    [InlineData("13, 8")]
    public void OtherVersion_Is426(string version)
    {
        Assert.Null(WebSocketHandshake.Accept("GET", new Version(1, 1), Without("Sec-WebSocket-Version", ("Sec-WebSocket-Version", version)), Plain, out var why));
        Assert.Equal(426, WebSocketHandshake.StatusOf(why));
    }

    [Fact]
    public void OriginCheck_Refuses_With403()
    {
        var settings = new WebSocketAcceptSettings([], null, origin => origin == "https://good.example");
        Assert.NotNull(WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(("Origin", "https://good.example")), settings, out _));
        Assert.Null(WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(("Origin", "https://evil.example")), settings, out var why));
        Assert.Equal(403, WebSocketHandshake.StatusOf(why));
    }

    [Fact]
    public void SubProtocol_IsTheServersFirstPreferenceThatWasOffered()
    {
        var settings = new WebSocketAcceptSettings(["v2.chat", "v1.chat"], null, null);
        var accepted = WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(("Sec-WebSocket-Protocol", "v1.chat, v2.chat"), ("Sec-WebSocket-Protocol", "other")), settings, out _);
        Assert.Equal("v2.chat", accepted!.SubProtocol);
        var none = WebSocketHandshake.Accept("GET", new Version(1, 1), Valid(("Sec-WebSocket-Protocol", "mqtt")), settings, out _);
        Assert.Null(none!.SubProtocol);
    }

    [Fact]
    public void ClientRequest_RoundTripsThroughTheServerCheck_AndTheResponseCheck()
    {
        string key = WebSocketHandshake.CreateKey();
        // A port the system gave (not the scheme's default), so the Host header must carry it.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var request = System.Text.Encoding.ASCII.GetString(WebSocketHandshake.BuildRequest(new Uri($"ws://127.0.0.1:{port}/chat?room=1"), key,
            ["chat"], PerMessageDeflate.CreateOffer(new WebSocketCompressionOptions()), [new("Authorization", "Bearer x")]));
        Assert.StartsWith($"GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n", request);
        Assert.EndsWith("Authorization: Bearer x\r\n\r\n", request);
        var headers = new HeaderList(request.Split("\r\n").Skip(1).Where(l => l.Length > 0)
            .Select(l => new KeyValuePair<string, string>(l[..l.IndexOf(':')], l[(l.IndexOf(':') + 1)..].Trim())));
        var accepted = WebSocketHandshake.Accept("GET", new Version(1, 1), headers, new WebSocketAcceptSettings(["chat"], new WebSocketCompressionOptions(), null), out _);
        Assert.NotNull(accepted);

        var result = WebSocketHandshake.CheckResponse(101, new HeaderList(accepted.ResponseHeaders), key, ["chat"], new WebSocketCompressionOptions(), out var failure);
        Assert.Null(failure);
        Assert.Equal("chat", result!.SubProtocol);
        Assert.NotNull(result.Deflate);
    }

    [Fact]
    public void BuildRequest_RefusesHeaderInjection() =>
        Assert.Throws<ArgumentException>(() => WebSocketHandshake.BuildRequest(new Uri("ws://h/"), Key, [], null, [new("X-Evil", "a\r\nInjected: 1")]));

    public static TheoryData<int, string[], string> BadResponses => new()
    {
        { 200, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], "200" },
        { 101, ["Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], "Upgrade" },
        { 101, ["Upgrade: websocket", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], "Connection" },
        { 101, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: wrong"], "Accept" },
        { 101, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol: nope"], "subprotocol" },
        { 101, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Extensions: permessage-deflate"], "extension" },
    };

    [Theory]
    [MemberData(nameof(BadResponses))]
    public void BadResponse_FailsTheConnection_SayingWhy(int status, string[] lines, string mentions)
    {
        var headers = new HeaderList(lines.Select(l => new KeyValuePair<string, string>(l[..l.IndexOf(':')], l[(l.IndexOf(':') + 1)..].Trim())));
        Assert.Null(WebSocketHandshake.CheckResponse(status, headers, Key, ["chat"], null, out var failure));
        Assert.Contains(mentions, failure!, StringComparison.OrdinalIgnoreCase);
    }
}
