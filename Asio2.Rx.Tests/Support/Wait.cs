using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Tests;

/// <summary>Waiting without sleeping: every wait is an observable with a timeout.</summary>
internal static class Wait
{
    /// <summary>Generous bound for real-socket tests; hitting it is a failure, never a pass.</summary>
    public static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    /// <summary>The observable's first value, or a TimeoutException naming what was awaited.</summary>
    public static Task<T> First<T>(this IObservable<T> source, string what, TimeSpan? timeout = null) =>
        source.FirstAsync()
            .Timeout(timeout ?? Long, Observable.Throw<T>(new TimeoutException($"timed out waiting for {what}")))
            .ToTask();

    /// <summary>A plain connected socket, for playing a peer that Asio2.Rx does not control.</summary>
    public static async Task<Socket> ConnectRaw(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).WaitAsync(Long);
        return socket;
    }

    /// <summary>Reads from a socket until <paramref name="count"/> bytes or end of stream.</summary>
    public static async Task<byte[]> ReadExactly(Socket socket, int count)
    {
        var buffer = new byte[count];
        int got = 0;
        while (got < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(Long);
            if (n == 0) break;
            got += n;
        }
        return buffer[..got];
    }
}
