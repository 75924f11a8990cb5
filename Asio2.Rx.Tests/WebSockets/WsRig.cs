using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests.WebSockets;

/// <summary>WebSocket sessions over a real loopback connection, before any HTTP: the handshake is taken as done, so
/// the session is tested against System.Net's own client (an independent implementation of the framing).</summary>
internal static class WsRig
{
    /// <summary>A connected loopback TCP pair: (accepted, connected).</summary>
    public static async Task<(Socket Server, Socket Client)> SocketPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Wait.Long);
        var server = await accept.WaitAsync(Wait.Long);
        server.NoDelay = true;
        return (server, client);
    }

    /// <summary>A session (not started) over <paramref name="stream"/>.</summary>
    public static WebSocketSession Session(Stream stream, bool isServer, WebSocketOptions? options = null, IScheduler? scheduler = null,
        NegotiatedDeflate? deflate = null, ReadOnlyMemory<byte> buffered = default)
    {
        options ??= new WebSocketOptions();
        var settings = options.Resolve("ws");
        return new WebSocketSession(stream, buffered, isServer, null, deflate, null, options.ResolveWebSocket(), settings,
            scheduler ?? settings.Schedulers.Next(), null, null);
    }

    /// <summary>A started server-side session and System.Net's client WebSocket on the other end of a loopback pair.</summary>
    public static async Task<(WebSocketSession Session, WebSocket Client, Socket ClientSocket)> ServerAndNetClient(
        WebSocketOptions? options = null, Action<WebSocketSession>? beforeStart = null, WebSocketDeflateOptions? clientDeflate = null, NegotiatedDeflate? serverDeflate = null, Func<Stream, Stream>? wrapClient = null)
    {
        var (server, client) = await SocketPair();
        var session = Session(new NetworkStream(server, ownsSocket: true), isServer: true, options, deflate: serverDeflate);
        beforeStart?.Invoke(session);
        session.Start();
        Stream clientStream = new NetworkStream(client, ownsSocket: true);
        var ws = WebSocket.CreateFromStream(wrapClient?.Invoke(clientStream) ?? clientStream, new WebSocketCreationOptions
        {
            IsServer = false,
            KeepAliveInterval = TimeSpan.Zero,
            DangerousDeflateOptions = clientDeflate,
        });
        return (session, ws, client);
    }

    /// <summary>Reads one whole message with System.Net's WebSocket.</summary>
    public static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessage(this WebSocket ws, int max = 64 * 1024 * 1024)
    {
        var buffer = new byte[64 * 1024];
        using var all = new MemoryStream();
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Wait.Long);
            if (r.MessageType == WebSocketMessageType.Close) return (r.MessageType, []);
            all.Write(buffer, 0, r.Count);
            if (all.Length > max) throw new InvalidOperationException("message too large");
            if (r.EndOfMessage) return (r.MessageType, all.ToArray());
        }
    }

    /// <summary>The session's close reason, awaited.</summary>
    public static Task<CloseReason> ClosedReason(this Session session) => session.Closed.First("the session's close reason");

    /// <summary>The first <paramref name="count"/> frames, subscribed now (Frames is hot).</summary>
    public static Task<IList<Frame>> Take(this Session session, int count) =>
        session.Frames.Take(count).ToList().Timeout(Wait.Long).ToTask();

    /// <summary>Counts the bytes read through it.</summary>
    public sealed class CountingStream(Stream inner) : Stream
    {
        private long _read;
        public long BytesRead => Interlocked.Read(ref _read);
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken);
            Interlocked.Add(ref _read, n);
            return n;
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
