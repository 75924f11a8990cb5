using System.Net;
using System.Net.Sockets;
using Asio2.Rx.Perf.Support;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// The load generator of an echo benchmark, run in its own (pinned) process. Each client keeps <c>--inflight</c>
/// datagram-framed messages of <c>--size</c> payload bytes outstanding on a plain <see cref="Socket"/>: it parses echoed
/// frames from its receive buffer, records each one's round trip, and sends as many new messages as came back, in one
/// write. Nothing is allocated per message. Protocol: prints <c>READY</c> once every client is connected and pumping;
/// <c>start</c> on stdin opens the counted window, <c>stop</c> closes it and prints a <c>LOAD ...</c> line.
/// </summary>
internal static class EchoLoadRole
{
    public static async Task<int> RunAsync(PerfArgs args)
    {
        int port = args.Int("port", 0);
        int clients = args.Int("clients", 100);
        int inflight = args.Int("inflight", 1000);
        int size = args.Int("size", 32);
        if (port <= 0 || clients < 1 || inflight < 1 || size < 0) throw new ArgumentException("need --port, --clients >= 1, --inflight >= 1, --size >= 0");

        var all = new LoadClient[clients];
        for (int i = 0; i < clients; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).ConfigureAwait(false);
            all[i] = new LoadClient(socket, inflight, size);
        }
        return await PipelinedConnection.RunLoadAsync(all,
            $"READY clients={clients} inflight={inflight} size={size} frame={all[0].FrameLength}").ConfigureAwait(false);
    }

    /// <summary>One connection sending datagram frames of --size payload bytes.</summary>
    private sealed class LoadClient(Socket socket, int inflight, int size)
        : PipelinedConnection(socket, inflight, Frame(size), Math.Max(64 * 1024, 2 * (DatagramHeader.Length(size) + size)))
    {
        private readonly int _headerLength = DatagramHeader.Length(size);

        private static byte[] Frame(int size) =>
            Framing.Datagram(Math.Max(size, 1)).Encode(Enumerable.Range(0, size).Select(i => (byte)i).ToArray());

        /// <summary>Walks the datagram headers of the complete frames and checks each announces --size.</summary>
        protected override int CountMessages(ReadOnlySpan<byte> received, out int consumed)
        {
            int at = 0, count = 0;
            while (received.Length - at >= FrameLength)
            {
                int length = _headerLength switch
                {
                    1 => received[at],
                    3 when received[at] == 0xFE => received[at + 1] | received[at + 2] << 8,
                    9 when received[at] == 0xFF => (int)BitConverter.ToInt64(received.Slice(at + 1, 8)),
                    _ => -1,
                };
                if (length != size) throw new InvalidDataException($"echoed frame announces {length} bytes, sent {size}");
                at += FrameLength;
                count++;
            }
            consumed = at;
            return count;
        }
    }
}
