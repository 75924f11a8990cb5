using System.Net;
using System.Net.Sockets;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// A UDP relay on loopback that loses a share of the datagrams it forwards, from a seeded generator: a client talks
/// to <see cref="FrontEndPoint"/>, the relay talks to the server from its own back socket, and replies go back to the
/// client that spoke last. Real sockets on both sides, so both peers run their production receive paths.
/// </summary>
internal sealed class LossyUdpRelay : IAsyncDisposable
{
    private readonly Socket _front = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _back = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly IPEndPoint _server;
    private readonly double _lossRate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _forward;
    private readonly Task _backward;
    private EndPoint? _client;

    private readonly Action<bool, ReadOnlyMemory<byte>>? _inspect;

    /// <param name="server">Where the relay forwards to.</param>
    /// <param name="lossRate">The share of datagrams lost, each direction.</param>
    /// <param name="seed">Seeds the loss.</param>
    /// <param name="inspect">Sees every datagram the relay forwards (true: toward the server) just before it goes on,
    /// on the relay's pump; the memory is valid only during the call.</param>
    public LossyUdpRelay(IPEndPoint server, double lossRate, int seed, Action<bool, ReadOnlyMemory<byte>>? inspect = null)
    {
        _server = server;
        _lossRate = lossRate;
        _inspect = inspect;
        foreach (var s in new[] { _front, _back })
        {
            s.ReceiveBufferSize = s.SendBufferSize = 4 * 1024 * 1024;
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }
        FrontEndPoint = (IPEndPoint)_front.LocalEndPoint!;
        _forward = Task.Run(() => PumpAsync(_front, toServer: true, new Random(seed)));
        _backward = Task.Run(() => PumpAsync(_back, toServer: false, new Random(seed + 1)));
    }

    /// <summary>Where clients send.</summary>
    public IPEndPoint FrontEndPoint { get; }

    public long ForwardedToServer, DroppedToServer, ForwardedToClient, DroppedToClient;

    private async Task PumpAsync(Socket from, bool toServer, Random random)
    {
        var buffer = new byte[65_536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await from.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // an ICMP error for an earlier datagram
            if (toServer) Volatile.Write(ref _client, r.RemoteEndPoint);
            bool drop = random.NextDouble() < _lossRate;
            if (toServer) Interlocked.Increment(ref drop ? ref DroppedToServer : ref ForwardedToServer);
            else Interlocked.Increment(ref drop ? ref DroppedToClient : ref ForwardedToClient);
            if (drop) continue;
            var target = toServer ? _server : Volatile.Read(ref _client);
            if (target is null) continue;
            _inspect?.Invoke(toServer, buffer.AsMemory(0, r.ReceivedBytes));
            try
            {
                await (toServer ? _back : _front).SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), SocketFlags.None, target);
            }
            catch (SocketException) { } // lost, as UDP may
            catch (ObjectDisposedException) { return; } // the relay was disposed between the receive and this send
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _front.Dispose();
        _back.Dispose();
        await Task.WhenAll(_forward, _backward);
    }
}
