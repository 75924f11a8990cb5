using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Asio2.Rx.Perf.Benchmarks;

/// <summary>
/// A replica of ikcp's test.h <c>LatencySimulator</c> as a pair of datagram channels, to compare with
/// <see cref="LossyLink"/>: losses drawn from a shuffled bag of 100 (so exactly <c>lossPercent</c> of every 100 datagrams
/// are lost), a uniform delay in [min, max), and first-in first-out delivery (a datagram never overtakes an earlier one; a
/// long delay holds the ones behind it, as the simulator's tunnel list does).
/// </summary>
internal sealed class IkcpSimulatorLink
{
    private readonly IScheduler _scheduler;

    public IkcpSimulatorLink(IScheduler scheduler, int lossPercent, TimeSpan minDelay, TimeSpan maxDelay, int seed,
        IPEndPoint a, IPEndPoint b)
    {
        _scheduler = scheduler;
        A = new End(this, a, new Direction(lossPercent, minDelay, maxDelay, seed));
        B = new End(this, b, new Direction(lossPercent, minDelay, maxDelay, seed + 1));
        A.Peer = B;
        B.Peer = A;
    }

    public End A { get; }

    public End B { get; }

    internal sealed class Direction(int lossPercent, TimeSpan minDelay, TimeSpan maxDelay, int seed)
    {
        private readonly Random _random = new(seed);
        private readonly int[] _bag = new int[100];
        private int _left;
        private DateTimeOffset _lastDelivery;

        /// <summary>When to deliver a datagram sent at <paramref name="now"/>, or null when it is lost.</summary>
        public DateTimeOffset? Next(DateTimeOffset now)
        {
            if (_left == 0)
            {
                for (int i = 0; i < _bag.Length; i++) _bag[i] = i;
                _left = _bag.Length;
            }
            int pick = _random.Next(_left);
            int value = _bag[pick];
            _bag[pick] = _bag[--_left];
            if (value < lossPercent) return null;
            var delay = minDelay + TimeSpan.FromTicks(_random.NextInt64(Math.Max(1, (maxDelay - minDelay).Ticks)));
            var at = now + delay;
            if (at < _lastDelivery) at = _lastDelivery; // FIFO
            _lastDelivery = at;
            return at;
        }
    }

    internal sealed class End(IkcpSimulatorLink link, IPEndPoint local, Direction outgoing) : DatagramChannel
    {
        private readonly SocketAddress _address = local.Serialize();
        private DatagramHandler? _handler;

        public End Peer { get; set; } = null!;

        public override IPEndPoint LocalEndPoint => local;

        public override Task Completion => Task.CompletedTask;

        public override void Start(DatagramHandler handler) => _handler = handler;

        public override void Send(ReadOnlySpan<byte> datagram, SocketAddress target)
        {
            if (outgoing.Next(link._scheduler.Now) is not { } at) return;
            link._scheduler.Schedule((Peer, datagram.ToArray(), _address), at, static (_, d) =>
            {
                d.Peer._handler?.Invoke(d.Item2, d._address);
                return Disposable.Empty;
            });
        }

        public override void Dispose() => _handler = null;
    }
}
