using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using MessagePack;

namespace Asio2.Rx.Samples;

/// <summary>asio2's README user type. Public: MessagePack's resolver generates its formatter. The [Key] order is the
/// C++ struct's serialize() order on asio2's wire.</summary>
[MessagePackObject]
public sealed class User
{
    [Key(0)] public string Name { get; set; } = "";
    [Key(1)] public int Age { get; set; }
    [Key(2)] public Dictionary<int, string> Purview { get; set; } = new();
}

/// <summary>asio2's README RPC example (add, mul, cat, get_user, del_user; sync and async calls; a server-to-client call), in Rx form.</summary>
internal sealed class RpcSample : ISample
{
    public string Name => "rpc";
    public string Description => "RPC both ways: bind functions, calls as observables, a server-to-client call (MessagePack-RPC and asio2's wire)";
    public int Order => 90;

    private sealed class UserStore
    {
        public User GetUser() => new() { Name = "lilei", Age = 32, Purview = { [1] = "read", [2] = "write" } };

        public async Task DelUser(User user)
        {
            await Task.Yield(); // an asynchronous function: it runs off the session's scheduler and answers when done
            Console.WriteLine($"server: del_user {user.Name} ({user.Age})");
        }
    }

    public async Task RunAsync(string[] args)
    {
        foreach (var protocol in new[] { RpcProtocol.MessagePackRpc, RpcProtocol.Asio2 })
        {
            Console.WriteLine($"-- {protocol}");
            // MessagePack-RPC over TCP uses one MessagePack value per frame; asio2's wire uses its datagram framing.
            var framing = protocol == RpcProtocol.Asio2 ? Framing.Datagram() : Framing.MessagePackObject();
            var options = new RpcOptions { Protocol = protocol, DefaultTimeout = TimeSpan.FromSeconds(5) };

            await using var tcpServer = new TcpServer(new TcpServerOptions { Framing = framing });
            var store = new UserStore();
            var server = new RpcServer(tcpServer, options)
                .Bind("add", (int a, int b) => a + b)
                .Bind("mul", (double a, double b) => a * b)
                .Bind("cat", (string a, string b) => a + b)
                .Bind("get_user", store.GetUser)
                .Bind("del_user", store.DelUser);
            // The server calls each new client: asio2's session_ptr->async_call from bind_connect.
            server.Peers.Subscribe(peer => peer.Call<string>("ping").Subscribe(
                reply => Console.WriteLine($"server: the client answered ping with '{reply}'"),
                error => Console.WriteLine($"server: ping failed: {error.Message}")));
            var bound = tcpServer.Start("127.0.0.1", 0);

            await using var tcpClient = new TcpClient(new TcpClientOptions { Framing = framing });
            var pinged = new TaskCompletionSource();
            var client = new RpcClient(tcpClient, options).Bind("ping", () => { pinged.TrySetResult(); return "pong"; });
            await tcpClient.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));

            // A "synchronous" call: await the observable.
            Console.WriteLine($"client: mul(16.5, 26.5) = {await client.Call<double>("mul", 16.5, 26.5)}");
            // An asynchronous call with a callback: subscribe.
            var added = client.Call<int>("add", 11, 2).Do(sum => Console.WriteLine($"client: add(11, 2) = {sum}")).ToTask();
            // Calls are plain Rx: a timeout is an operator.
            var cat = await client.Call<string>("cat", "abc", "123").Timeout(TimeSpan.FromSeconds(3));
            Console.WriteLine($"client: cat(\"abc\", \"123\") = {cat}");
            var user = await client.Call<User>("get_user");
            Console.WriteLine($"client: get_user() = {user.Name}, {user.Age}, [{string.Join(", ", user.Purview.Select(p => $"{p.Key}: {p.Value}"))}]");
            await client.Call("del_user", user);
            await added;
            try
            {
                await client.Call<int>("no_such_function");
            }
            catch (RpcException e)
            {
                Console.WriteLine($"client: no_such_function failed: {e.Kind}");
            }
            await pinged.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
    }
}
