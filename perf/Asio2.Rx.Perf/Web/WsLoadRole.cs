using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Web;

/// <summary>
/// The WebSocket load generator, in its own (pinned) process: each client is a plain <see cref="Socket"/> that does the
/// opening handshake by hand, then keeps <c>--inflight</c> masked binary messages of <c>--size</c> bytes outstanding. It walks
/// the echoed frames' headers, records each message's round trip, and sends as many new (pre-masked) messages as came back,
/// in one write. Nothing is allocated per message, and the client's cost is the same whichever server it talks to.
/// Protocol as the other load roles: <c>READY</c>, then <c>start</c>/<c>STARTED</c>, <c>stop</c>/<c>LOAD ...</c>.
/// </summary>
internal static class WsLoadRole
{
    public static async Task<int> RunAsync(PerfArgs args)
    {
        int port = args.Int("port", 0);
        int clients = args.Int("clients", 100);
        int inflight = args.Int("inflight", 100);
        int size = args.Int("size", 32);
        if (port <= 0 || clients < 1 || inflight < 1 || size < 0 || size > ushort.MaxValue)
            throw new ArgumentException("need --port, --clients >= 1, --inflight >= 1, 0 <= --size <= 65535");

        var all = new Client[clients];
        for (int i = 0; i < clients; i++) all[i] = await Client.ConnectAsync(port, inflight, size).ConfigureAwait(false);
        return await PipelinedConnection.RunLoadAsync(all, $"READY clients={clients} inflight={inflight} size={size}").ConfigureAwait(false);
    }

    /// <summary>One connection sending masked binary messages of --size bytes.</summary>
    private sealed class Client : PipelinedConnection
    {
        private readonly int _size;

        private Client(Socket socket, int inflight, int size, ReadOnlySpan<byte> afterHandshake)
            : base(socket, inflight, Frame(size), 128 * 1024, afterHandshake)
        {
            _size = size;
        }

        /// <summary>One binary message of <paramref name="size"/> bytes as a client sends it: masked (RFC 6455 §5.3).</summary>
        private static byte[] Frame(int size)
        {
            int header = 2 + (size >= 126 ? 2 : 0) + 4;
            var one = new byte[header + size];
            one[0] = 0x82; // FIN + binary
            if (size < 126) one[1] = (byte)(0x80 | size);
            else
            {
                one[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(one.AsSpan(2), (ushort)size);
            }
            Span<byte> mask = one.AsSpan(header - 4, 4);
            Random.Shared.NextBytes(mask);
            for (int i = 0; i < size; i++) one[header + i] = (byte)(i ^ mask[i & 3]);
            return one;
        }

        /// <summary>Connects and performs the opening handshake (RFC 6455 §4.1) for /ws.</summary>
        public static async Task<Client> ConnectAsync(int port, int inflight, int size)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            var request = $"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                          $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None).ConfigureAwait(false);
            var buffer = new byte[4096];
            int n = 0, end;
            while ((end = buffer.AsSpan(0, n).IndexOf("\r\n\r\n"u8)) < 0)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(n), SocketFlags.None).ConfigureAwait(false);
                if (read == 0 || n + read == buffer.Length) throw new IOException("no handshake response");
                n += read;
            }
            string head = Encoding.ASCII.GetString(buffer, 0, end);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal)) throw new IOException($"handshake refused: {head}");
            return new Client(socket, inflight, size, buffer.AsSpan(end + 4, n - end - 4));
        }

        /// <summary>Walks the server's (unmasked) frames: counts binary messages of --size bytes, skips pings and pongs, and
        /// fails on anything else.</summary>
        protected override int CountMessages(ReadOnlySpan<byte> received, out int consumed)
        {
            int end = received.Length;
            int at = 0, count = 0;
            while (end - at >= 2)
            {
                byte op = (byte)(received[at] & 0x0F);
                int code = received[at + 1] & 0x7F;
                int header = code == 126 ? 4 : code == 127 ? 10 : 2;
                if (end - at < header) break;
                long length = code == 126 ? BinaryPrimitives.ReadUInt16BigEndian(received[(at + 2)..]) : code == 127 ? (long)BinaryPrimitives.ReadUInt64BigEndian(received[(at + 2)..]) : code;
                if (end - at < header + length) break;
                if (op == 0x8) throw new IOException("the server sent a close frame");
                if (op == 0x2 && (received[at] & 0x80) != 0)
                {
                    if (length != _size) throw new InvalidDataException($"echoed message has {length} bytes, sent {_size}");
                    count++;
                }
                else if (op is not (0x9 or 0xA)) throw new InvalidDataException($"unexpected frame 0x{received[at]:X2}");
                at += header + (int)length;
            }
            consumed = at;
            return count;
        }
    }
}
