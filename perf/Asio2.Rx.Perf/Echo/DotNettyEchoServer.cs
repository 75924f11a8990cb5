using System.Net;
using DotNetty.Buffers;
using DotNetty.Codecs;
using DotNetty.Common;
using DotNetty.Transport.Bootstrapping;
using DotNetty.Transport.Channels;
using DotNetty.Transport.Channels.Sockets;

namespace Asio2.Rx.Perf.Echo;

/// <summary>
/// DotNetty 0.7.6 configured as its own Echo.Server example does (a boss group of one loop, the default worker group,
/// <see cref="TcpServerSocketChannel"/>, backlog, a framing decoder and encoder, and an echo handler that writes each
/// message and flushes on <c>ChannelReadComplete</c>), without the example's <c>LoggingHandler</c>s and with buffer leak
/// detection off (its default samples about one buffer in a hundred with a stack trace; production setups turn it off).
/// DotNetty's <see cref="LengthFieldBasedFrameDecoder"/> reads a fixed-width length field, so it cannot read asio2's
/// 1/3/9-byte datagram header; <see cref="DatagramDecoder"/> and <see cref="DatagramEncoder"/> are the small
/// <see cref="ByteToMessageDecoder"/>/<see cref="MessageToByteEncoder{T}"/> pair a DotNetty user would write instead.
/// </summary>
internal sealed class DotNettyEchoServer : IAsyncDisposable
{
    private readonly MultithreadEventLoopGroup _boss;
    private readonly MultithreadEventLoopGroup _workers;
    private readonly IChannel _channel;

    private DotNettyEchoServer(MultithreadEventLoopGroup boss, MultithreadEventLoopGroup workers, IChannel channel)
    {
        _boss = boss;
        _workers = workers;
        _channel = channel;
    }

    public int Port => ((IPEndPoint)_channel.LocalAddress).Port;

    public static async Task<DotNettyEchoServer> StartAsync()
    {
        ResourceLeakDetector.Level = ResourceLeakDetector.DetectionLevel.Disabled;
        var boss = new MultithreadEventLoopGroup(1);
        var workers = new MultithreadEventLoopGroup(); // the default: two loops per processor the process may use
        var bootstrap = new ServerBootstrap()
            .Group(boss, workers)
            .Channel<TcpServerSocketChannel>()
            .Option(ChannelOption.SoBacklog, 1024)
            .ChildOption(ChannelOption.TcpNodelay, true)
            .ChildHandler(new ActionChannelInitializer<IChannel>(channel =>
            {
                IChannelPipeline pipeline = channel.Pipeline;
                pipeline.AddLast("framing-enc", new DatagramEncoder());
                pipeline.AddLast("framing-dec", new DatagramDecoder());
                pipeline.AddLast("echo", EchoHandler.Instance);
            }));
        var channel = await bootstrap.BindAsync(new IPEndPoint(IPAddress.Loopback, 0)).ConfigureAwait(false);
        return new DotNettyEchoServer(boss, workers, channel);
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync().ConfigureAwait(false);
        await Task.WhenAll(
            _boss.ShutdownGracefullyAsync(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)),
            _workers.ShutdownGracefullyAsync(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1))).ConfigureAwait(false);
    }

    /// <summary>One frame per <c>Decode</c> call, as <see cref="LengthFieldBasedFrameDecoder"/> does: the payload as a retained slice.</summary>
    private sealed class DatagramDecoder : ByteToMessageDecoder
    {
        protected override void Decode(IChannelHandlerContext context, IByteBuffer input, List<object> output)
        {
            int readable = input.ReadableBytes;
            if (readable < 1) return;
            int at = input.ReaderIndex;
            int headerLength;
            long length;
            byte first = input.GetByte(at);
            if (first < 0xFE)
            {
                headerLength = 1;
                length = first;
            }
            else if (first == 0xFE)
            {
                if (readable < 3) return;
                headerLength = 3;
                length = input.GetUnsignedShortLE(at + 1);
                if (length < 0xFE) throw new CorruptedFrameException("FE header with a length below 254");
            }
            else
            {
                if (readable < 9) return;
                headerLength = 9;
                length = input.GetLongLE(at + 1);
                if (length <= ushort.MaxValue) throw new CorruptedFrameException("FF header with a length below 65536");
            }
            if (length > DatagramHeader.MaxPayload) throw new TooLongFrameException($"frame of {length} bytes, limit {DatagramHeader.MaxPayload}");
            if (readable < headerLength + length) return;
            input.SkipBytes(headerLength);
            output.Add(input.ReadRetainedSlice((int)length));
        }
    }

    /// <summary>Writes the datagram header, then the payload, into the encoder's output buffer.</summary>
    private sealed class DatagramEncoder : MessageToByteEncoder<IByteBuffer>
    {
        protected override void Encode(IChannelHandlerContext context, IByteBuffer message, IByteBuffer output)
        {
            int length = message.ReadableBytes;
            if (length < 0xFE)
            {
                output.WriteByte(length);
            }
            else if (length <= ushort.MaxValue)
            {
                output.WriteByte(0xFE);
                output.WriteShortLE(length);
            }
            else
            {
                output.WriteByte(0xFF);
                output.WriteLongLE(length);
            }
            output.WriteBytes(message);
        }
    }

    /// <summary>The example's echo handler: write every message, flush when the read batch ends.</summary>
    private sealed class EchoHandler : ChannelHandlerAdapter
    {
        public static readonly EchoHandler Instance = new();

        public override bool IsSharable => true;

        public override void ChannelRead(IChannelHandlerContext context, object message) => context.WriteAsync(message);

        public override void ChannelReadComplete(IChannelHandlerContext context) => context.Flush();

        public override void ExceptionCaught(IChannelHandlerContext context, Exception exception) => context.CloseAsync();
    }
}
