using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Asio2.Rx.Tests.Rpc;

/// <summary>MessagePack-RPC against an independent peer: a small node program on @msgpack/msgpack (Rpc/peer).</summary>
public sealed class RpcInteropTests
{
    private static Process StartPeer(params string[] args)
    {
        var script = Path.Combine(Peers.NodeFolder, "..", "Rpc", "peer", "msgpack-rpc-peer.cjs");
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.GetFullPath(script));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NODE_PATH"] = Path.Combine(Peers.NodeFolder, "node_modules");
        return Process.Start(info)!;
    }

    private static async Task<string> ReadLine(Process process)
    {
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long);
        return line ?? throw new InvalidOperationException("the node peer exited: " + await process.StandardError.ReadToEndAsync());
    }

    [PeerFact("node", Npm = ["@msgpack/msgpack"])]
    public async Task DotNetClient_CallsTheNodeServer_AndServesItsCallback()
    {
        using var node = StartPeer("server");
        try
        {
            int port = int.Parse((await ReadLine(node)).Split(' ')[1]);
            await using var tcp = new TcpClient(new TcpClientOptions { Framing = Framing.MessagePackObject(), Reconnect = { Enabled = false } });
            var rpc = new RpcClient(tcp).Bind("mul", (int a, int b) => a * b);
            await tcp.Connect("127.0.0.1", port).First("the connection to node");

            Assert.Equal(3, await rpc.Call<int>("add", 1, 2));
            Assert.Equal("héllo", await rpc.Call<string>("echo", "héllo"));
            Assert.Equal(new byte[] { 0, 1, 255 }, await rpc.Call<byte[]>("echo", new byte[] { 0, 1, 255 }));
            Assert.Equal(new[] { 1, 2, 3 }, await rpc.Call<int[]>("echo", new[] { 1, 2, 3 }));
            Assert.Equal(new Dictionary<string, int> { ["a"] = 1 }, await rpc.Call<Dictionary<string, int>>("echo", new Dictionary<string, int> { ["a"] = 1 }));
            Assert.Null(await rpc.Call<string?>("echo", (object?)null));
            // (JavaScript objects have only string keys, so the user's int-keyed map travels empty here.)
            var user = await rpc.Call<User>("echo", new User { Name = "lilei", Age = 32 });
            Assert.Equal(("lilei", 32, 0), (user.Name, user.Age, user.Purview.Count));

            // Node's errors are plain strings: a remote exception with that text.
            var error = await Assert.ThrowsAsync<RpcException>(() => rpc.Call<int>("fail", "it broke").ToTask());
            Assert.Equal((RpcErrorKind.RemoteException, "it broke"), (error.Kind, error.Message));
            Assert.Contains("method not found", (await Assert.ThrowsAsync<RpcException>(() => rpc.Call<int>("nope").ToTask())).Message);

            // Out of order: "a" is answered after "b".
            var a = rpc.Call<string>("hold", "a").ToTask();
            var b = rpc.Call<string>("hold", "b").ToTask();
            Assert.True(await rpc.Call<bool>("release", "b"));
            Assert.Equal("b", await b.WaitAsync(Wait.Long));
            Assert.False(a.IsCompleted);
            Assert.True(await rpc.Call<bool>("release", "a"));
            Assert.Equal("a", await a.WaitAsync(Wait.Long));

            // Node calls back into .NET while serving the call.
            Assert.Equal(21, await rpc.Call<int>("callback", 10));

            var many = await Enumerable.Range(0, 1000).Select(i => rpc.Call<int>("add", i, 1).Select(r => (i, r))).Merge().ToList();
            Assert.All(many, x => Assert.Equal(x.i + 1, x.r));
        }
        finally
        {
            node.Kill();
        }
    }

    [PeerFact("node", Npm = ["@msgpack/msgpack"])]
    public async Task NodeClient_CallsTheDotNetServer_AndIsCalledBack()
    {
        await using var tcp = new TcpServer(new TcpServerOptions { Framing = Framing.MessagePackObject() });
        var rpc = new RpcServer(tcp);
        EchoFunctions.Bind(rpc.Bindings);
        rpc.Bind("get_user", () => new User { Name = "lilei", Age = 32, Purview = { [1] = "read", [2] = "write" } })
           .Bind("echo_smap", (Dictionary<string, int> m) => m)
           .Bind("ask_node", async (RpcPeer caller, int n) => await caller.Call<int>("node_add", n, 100));
        var port = tcp.Start("127.0.0.1", 0).Port;
        using var node = StartPeer("client", port.ToString());
        try
        {
            var lines = new Dictionary<string, JsonElement>();
            while (true)
            {
                var line = JsonDocument.Parse(await ReadLine(node)).RootElement.EnumerateObject().Single();
                if (line.Name == "done") break;
                Assert.NotEqual("failed", line.Name);
                lines[line.Name] = line.Value.Clone();
            }

            Assert.Equal(42, lines["add"].GetInt32());
            Assert.Equal("héllo", lines["echo_string"].GetString());
            Assert.Equal("000102ff", lines["echo_bytes"].GetString());
            Assert.Equal("""{"a":1,"b":2}""", lines["echo_map"].GetRawText());
            Assert.Equal(JsonValueKind.Null, lines["echo_nil"].ValueKind);
            Assert.Equal("""["lilei",32,{"1":"read","2":"write"}]""", lines["user"].GetRawText()); // [Key(n)] types are arrays
            Assert.Equal((int)RpcErrorKind.MethodNotFound, lines["not_found"][0].GetInt32());
            Assert.Equal((int)RpcErrorKind.InvalidArguments, lines["bad_args"][0].GetInt32());
            Assert.True(lines["pipelined"].GetBoolean());
            Assert.Equal(105, lines["ask_node"].GetInt32());
        }
        finally
        {
            node.Kill();
        }
    }
}
