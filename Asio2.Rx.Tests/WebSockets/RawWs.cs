using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>A WebSocket client written as raw bytes over a socket, for conformance cases no well-behaved client sends.</summary>
internal sealed class RawWs : IDisposable
{
    private readonly Socket _socket;
    private readonly List<byte> _in = [];

    private RawWs(Socket socket) => _socket = socket;

    public static async Task<RawWs> Connect(IPEndPoint server, string path = "/")
    {
        var raw = new RawWs(await Wait.ConnectRaw(server));
        await raw.Send(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        string head = await raw.ReadHead();
        Assert.StartsWith("HTTP/1.1 101", head);
        Assert.Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head);
        return raw;
    }

    public Task Send(byte[] bytes) => _socket.SendAsync(bytes, SocketFlags.None).WaitAsync(Wait.Long);

    /// <summary>One frame: FIN, RSV bits, opcode, masked (as a client must) unless told otherwise.</summary>
    public static byte[] Frame(int opcode, byte[] payload, bool fin = true, int rsv = 0, bool masked = true)
    {
        var f = new List<byte> { (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode) };
        byte mask = (byte)(masked ? 0x80 : 0);
        if (payload.Length < 126) f.Add((byte)(mask | payload.Length));
        else if (payload.Length <= 0xFFFF) { f.Add((byte)(mask | 126)); f.Add((byte)(payload.Length >> 8)); f.Add((byte)payload.Length); }
        else { f.Add((byte)(mask | 127)); for (int i = 7; i >= 0; i--) f.Add((byte)((long)payload.Length >> (8 * i))); }
        if (!masked) return [.. f, .. payload];
        var key = RandomNumberGenerator.GetBytes(4);
        f.AddRange(key);
        for (int i = 0; i < payload.Length; i++) f.Add((byte)(payload[i] ^ key[i % 4]));
        return [.. f];
    }

    public static byte[] Close(int? code, string reason = "") =>
        Frame(8, code is { } c ? [(byte)(c >> 8), (byte)c, .. Encoding.UTF8.GetBytes(reason)] : []);

    /// <summary>The next frame from the server (unmasked): opcode, payload and FIN bit; null at end of stream.</summary>
    public async Task<(int Opcode, byte[] Payload, bool Fin)?> ReadFrame()
    {
        if (!await Fill(2)) return null;
        int opcode = _in[0] & 0x0F;
        bool fin = (_in[0] & 0x80) != 0;
        long len = _in[1] & 0x7F;
        int header = 2;
        if (len == 126) { if (!await Fill(4)) return null; len = (_in[2] << 8) | _in[3]; header = 4; }
        else if (len == 127) { if (!await Fill(10)) return null; len = 0; for (int i = 0; i < 8; i++) len = (len << 8) | _in[2 + i]; header = 10; }
        if (!await Fill(header + (int)len)) return null;
        var payload = _in.GetRange(header, (int)len).ToArray();
        _in.RemoveRange(0, header + (int)len);
        return (opcode, payload, fin);
    }

    /// <summary>Reads frames until a close frame; returns its code (1005 for none), or -1 if the stream ended without one.</summary>
    public async Task<int> ReadCloseCode()
    {
        while (await ReadFrame() is { } f)
            if (f.Opcode == 8) return f.Payload.Length >= 2 ? (f.Payload[0] << 8) | f.Payload[1] : 1005;
        return -1;
    }

    private async Task<string> ReadHead()
    {
        while (true)
        {
            var text = Encoding.ASCII.GetString(_in.ToArray());
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _in.RemoveRange(0, end + 4);
                return text[..end];
            }
            if (!await Receive()) return text;
        }
    }

    private async Task<bool> Fill(int count)
    {
        while (_in.Count < count)
            if (!await Receive()) return false;
        return true;
    }

    private async Task<bool> Receive()
    {
        var buffer = new byte[64 * 1024];
        int n;
        try { n = await _socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait.Long); }
        catch (SocketException) { return false; }
        if (n == 0) return false;
        _in.AddRange(buffer.AsSpan(0, n).ToArray());
        return true;
    }

    public void Dispose() => _socket.Dispose();
}
