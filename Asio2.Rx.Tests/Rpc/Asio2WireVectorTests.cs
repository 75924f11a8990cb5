using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Text.Json;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>asio2's RPC wire against the capture of a C++ asio2 rpc_server and rpc_client (shared/asio2/vectors/rpc.json).</summary>
public sealed class Asio2WireVectorTests
{
    private static readonly Asio2RpcWire s_wire = new(64);

    public static TheoryData<string> FrameNames()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in Asio2Capture.Frames) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(FrameNames))]
    public void CapturedFrame_DecodesToTheCapturedCall_AndReencodesToTheCapturedBytes(string name)
    {
        var frame = Asio2Capture.Frames.Single(f => f.Name == name).Frame;
        var payload = Asio2Capture.Hex(frame, "payload_hex");
        var decoded = frame.GetProperty("decoded");
        Assert.Equal(Asio2Capture.Hex(frame, "frame_hex"), Framing.Datagram().Encode(payload));

        var message = s_wire.Decode(payload);

        Assert.Equal(decoded.GetProperty("id").GetUInt64(), message.Id);
        Assert.Equal(decoded.GetProperty("name").GetString(), message.Method);
        var output = new ArrayBufferWriter<byte>();
        if (decoded.GetProperty("kind").GetString() == "request")
        {
            Assert.Equal(message.Id == 0 ? RpcMessageKind.Notification : RpcMessageKind.Request, message.Kind);
            var captured = decoded.GetProperty("args").EnumerateArray().ToList();
            var reader = new PortableReader(message.Body.Span, bigEndian: false, 64);
            var args = new object?[captured.Count];
            for (int i = 0; i < args.Length; i++)
                args[i] = Asio2TypeCodec.For(Asio2Capture.TypeOf(captured[i].GetProperty("type").GetString()!)).Read(ref reader);
            Assert.Equal(0, reader.Remaining);
            Assert.Equal(captured.Select(a => Asio2Capture.Canonical(Asio2Capture.ValueOf(a))), args.Select(Asio2Capture.Canonical));
            s_wire.WriteRequest(output, message.Id, message.Method, args, notification: message.Id == 0);
        }
        else
        {
            Assert.Equal(RpcMessageKind.Response, message.Kind);
            int code = decoded.GetProperty("error_code").GetInt32();
            Assert.Equal(code, message.ErrorCode);
            if (code != 0)
            {
                var error = s_wire.DecodeError(message);
                var kind = code switch { 3 => RpcErrorKind.MethodNotFound, 5 => RpcErrorKind.InvalidArguments, _ => RpcErrorKind.RemoteException };
                Assert.Equal(kind, error.Kind);
                s_wire.WriteError(output, message, error.Kind, error.Message, null);
            }
            else if (decoded.GetProperty("result").ValueKind == JsonValueKind.Null)
            {
                Assert.True(message.Body.IsEmpty); // void: nothing after the error code
                s_wire.WriteResult(output, message, null, null);
            }
            else
            {
                var result = decoded.GetProperty("result");
                var type = Asio2Capture.TypeOf(result.GetProperty("type").GetString()!);
                var value = s_wire.DecodeResult(message, type);
                Assert.Equal(Asio2Capture.Canonical(Asio2Capture.ValueOf(result)), Asio2Capture.Canonical(value));
                s_wire.WriteResult(output, message, value, type);
            }
        }
        Assert.Equal(Convert.ToHexString(payload), Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public async Task Server_AnswersTheCapturedClientRequests_ByteForByte()
    {
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram() });
        var rpc = new RpcServer(tcp, new RpcOptions { Protocol = RpcProtocol.Asio2 });
        Asio2Capture.ServerFunctions(rpc.Bindings);
        var bound = tcp.Start("127.0.0.1", 0);
        using var socket = await Wait.ConnectRaw(bound);

        foreach (var exchange in Asio2Capture.Exchanges.Where(e => e.GetProperty("direction").GetString() == "client->server"))
        {
            var frames = exchange.GetProperty("frames").EnumerateArray().ToList();
            await socket.SendAsync(Asio2Capture.Hex(frames[0], "frame_hex"));
            if (frames.Count == 1) continue; // a notification: never answered (the next response proves nothing came)
            var reply = await Asio2Capture.ReadFrame(socket);
            Assert.Equal(frames[1].GetProperty("frame_hex").GetString(), Convert.ToHexString(reply).ToLowerInvariant());
        }
    }

    [Fact]
    public async Task Client_SendsTheCapturedRequests_AndDecodesTheCapturedResponses()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        await using var tcp = new TcpClient(new TcpClientOptions { Framing = Framing.Datagram(), Reconnect = { Enabled = false } });
        var rpc = new RpcClient(tcp, new RpcOptions { Protocol = RpcProtocol.Asio2 });
        rpc.Bind("ping", () => "pong").Bind("log", (string text) => { });
        var accepted = listener.AcceptAsync();
        await tcp.Connect((IPEndPoint)listener.LocalEndPoint!).First("the connection");
        using var server = await accepted.WaitAsync(Wait.Long);

        foreach (var exchange in Asio2Capture.Exchanges)
        {
            var frames = exchange.GetProperty("frames").EnumerateArray().ToList();
            var request = frames[0];
            if (exchange.GetProperty("direction").GetString() == "server->client")
            {
                // The C++ server calls the .NET client: the client must answer with the captured bytes.
                await server.SendAsync(Asio2Capture.Hex(request, "frame_hex"));
                if (frames.Count > 1)
                    Assert.Equal(frames[1].GetProperty("frame_hex").GetString(), Convert.ToHexString(await Asio2Capture.ReadFrame(server)).ToLowerInvariant());
                continue;
            }
            var decoded = request.GetProperty("decoded");
            var args = decoded.GetProperty("args").EnumerateArray().Select(Asio2Capture.ValueOf).ToArray();
            string method = decoded.GetProperty("name").GetString()!;
            if (frames.Count == 1)
            {
                await rpc.Notify(method, args);
                Assert.Equal(request.GetProperty("frame_hex").GetString(), Convert.ToHexString(await Asio2Capture.ReadFrame(server)).ToLowerInvariant());
                continue;
            }
            var response = frames[1].GetProperty("decoded");
            var result = response.GetProperty("result");
            var call = result.ValueKind == JsonValueKind.Null
                ? rpc.Call(method, args).Select(_ => (object?)null)
                : CallAs(rpc, Asio2Capture.TypeOf(result.GetProperty("type").GetString()!), method, args);
            var outcome = call.Materialize().Where(n => n.Kind != System.Reactive.NotificationKind.OnCompleted).First("the response to " + method);
            Assert.Equal(request.GetProperty("frame_hex").GetString(), Convert.ToHexString(await Asio2Capture.ReadFrame(server)).ToLowerInvariant());
            await server.SendAsync(Asio2Capture.Hex(frames[1], "frame_hex"));
            var got = await outcome;
            int code = response.GetProperty("error_code").GetInt32();
            if (code == 0)
                Assert.Equal(result.ValueKind == JsonValueKind.Null ? "null" : Asio2Capture.Canonical(Asio2Capture.ValueOf(result)), Asio2Capture.Canonical(got.Value));
            else
                Assert.Equal(code switch { 3 => RpcErrorKind.MethodNotFound, 5 => RpcErrorKind.InvalidArguments, _ => RpcErrorKind.RemoteException },
                    Assert.IsType<RpcException>(got.Exception).Kind);
        }
    }

    public static TheoryData<int> MalformedCases() => new(Enumerable.Range(0, Asio2Capture.Malformed.Count()));

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public async Task Server_AnswersTheCapturedMalformedInput_AsAsio2Did(int index)
    {
        var probe = Asio2Capture.Malformed.ElementAt(index);
        string what = probe.GetProperty("what").GetString()!;
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.Datagram() });
        var closes = new System.Reactive.Subjects.ReplaySubject<CloseReason>();
        tcp.Sessions.Subscribe(s => s.Closed.Subscribe(closes));
        var rpc = new RpcServer(tcp, new RpcOptions { Protocol = RpcProtocol.Asio2 });
        Asio2Capture.ServerFunctions(rpc.Bindings);
        using var socket = await Wait.ConnectRaw(tcp.Start("127.0.0.1", 0));

        await socket.SendAsync(Asio2Capture.Hex(probe, "sent_hex"));

        foreach (var expected in probe.GetProperty("reply_frames").EnumerateArray())
        {
            var reply = Convert.ToHexString(await Asio2Capture.ReadFrame(socket)).ToLowerInvariant();
            var hex = expected.GetProperty("frame_hex").GetString()!;
            if (what.StartsWith("bool argument byte")) Assert.Equal(hex[..^2], reply[..^2]); // asio2 answered !2 == 3; the value is not specified
            else Assert.Equal(hex, reply);
        }
        if (probe.GetProperty("connection_after_1s").GetString()!.StartsWith("open"))
        {
            // Still serving: a valid add(1,1) with id 99 is answered.
            await socket.SendAsync(Convert.FromHexString("1d01716300000000000000030000000000000061646401000000" + "01000000"));
            Assert.Equal("1d01706300000000000000030000000000000061646400000000" + "02000000", Convert.ToHexString(await Asio2Capture.ReadFrame(socket)).ToLowerInvariant());
        }
        else
        {
            Assert.Empty(await Asio2Capture.ReadFrame(socket).ContinueWith(t => t.IsFaulted ? [] : t.Result));
            Assert.Equal(CloseKind.ProtocolError, (await closes.First("the server session's close")).Kind);
        }
    }

    private static IObservable<object?> CallAs(RpcClient rpc, Type type, string method, object?[] args) =>
        (IObservable<object?>)typeof(Asio2WireVectorTests).GetMethod(nameof(CallTyped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type).Invoke(null, [rpc, method, args])!;

    private static IObservable<object?> CallTyped<T>(RpcClient rpc, string method, object?[] args) => rpc.Call<T>(method, args).Select(v => (object?)v);
}
