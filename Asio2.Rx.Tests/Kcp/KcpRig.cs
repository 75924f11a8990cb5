using System.Net;
using System.Net.Sockets;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// A <see cref="KcpServer"/> on an in-process datagram network driven by a <see cref="TestScheduler"/>, with raw
/// probes that send hand-made datagrams and record what the server sends back: asio2's captured traffic replayed
/// byte for byte, in virtual time.
/// </summary>
internal sealed class KcpRig
{
    public KcpRig(Action<KcpServerOptions>? configure = null, bool echo = true)
    {
        Scheduler = new TestScheduler();
        Network = new MemoryDatagramNetwork(Scheduler);
        var options = new KcpServerOptions { Schedulers = new SchedulerPool(Scheduler) };
        configure?.Invoke(options);
        Server = new KcpServer(options);
        Server.Sessions.Subscribe(s =>
        {
            Sessions.Add(s);
            s.Closed.Subscribe(r => Closes.Add((s, r)));
            if (echo) s.Frames.Subscribe(f => f.Session.Send(f.Data));
        });
        ServerEndPoint = Server.Start(Network.Bind());
    }

    public TestScheduler Scheduler { get; }

    public MemoryDatagramNetwork Network { get; }

    public KcpServer Server { get; }

    public IPEndPoint ServerEndPoint { get; }

    public List<Session> Sessions { get; } = [];

    public List<(Session Session, CloseReason Reason)> Closes { get; } = [];

    public Probe NewProbe() => new(this, Network.Bind());

    /// <summary>Runs the scheduler for a few ticks: long enough for a datagram, the server's drain and its reply.</summary>
    public void Settle() => Scheduler.AdvanceBy(100);

    /// <summary>Moves the clock to <paramref name="ms"/> milliseconds (the server's KCP clock reads the same).</summary>
    public void AdvanceToMs(long ms) => Scheduler.AdvanceTo(ms * TimeSpan.TicksPerMillisecond);

    /// <summary>A raw UDP peer on the in-process network.</summary>
    public sealed class Probe
    {
        private readonly KcpRig _rig;
        private readonly DatagramChannel _channel;
        private readonly SocketAddress _server;
        private readonly List<byte[]> _received = [];

        public Probe(KcpRig rig, DatagramChannel channel)
        {
            _rig = rig;
            _channel = channel;
            _server = rig.ServerEndPoint.Serialize();
            channel.Start((datagram, _) => _received.Add(datagram.ToArray()));
        }

        public IPEndPoint EndPoint => _channel.LocalEndPoint;

        /// <summary>Sends <paramref name="hex"/> to the server, lets it react, and returns its replies as hex.</summary>
        public List<string> Exchange(string hex)
        {
            Take();
            Send(hex);
            _rig.Settle();
            return Take();
        }

        public void Send(string hex) => _channel.Send(Convert.FromHexString(hex), _server);

        public void Send(ReadOnlySpan<byte> datagram) => _channel.Send(datagram, _server);

        /// <summary>What arrived since the last call, as lowercase hex.</summary>
        public List<string> Take()
        {
            var hex = _received.Select(d => Convert.ToHexString(d).ToLowerInvariant()).ToList();
            _received.Clear();
            return hex;
        }
    }
}
