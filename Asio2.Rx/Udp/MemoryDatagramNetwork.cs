using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Asio2.Rx;

/// <summary>
/// An in-process datagram network on one scheduler: channels bound to addresses, each datagram delivered through
/// the scheduler (so a <c>TestScheduler</c> runs UDP and KCP servers with a thousand peers in virtual time), and
/// optionally impaired like a bad network by the same <see cref="LossyLinkOptions"/> a <see cref="LossyLink"/> takes.
/// </summary>
/// <remarks>
/// A datagram to an address nobody is bound to is lost (and counted in <see cref="Undeliverable"/>), as UDP to a
/// closed port. Each channel draws its losses and delays from its own seeded <see cref="LossyLinkPolicy"/>
/// (seed + bind order), so a run repeats exactly. Thread-safe.
/// </remarks>
internal sealed class MemoryDatagramNetwork
{
    private readonly IScheduler _scheduler;
    private readonly LossyLinkOptions? _impairment;
    private readonly ConcurrentDictionary<SocketAddress, Channel> _bound = new();
    private int _nextPort = 40_000;
    private int _channels;
    private long _undeliverable;

    /// <summary>Creates a network whose deliveries run on <paramref name="scheduler"/>; null <paramref name="impairment"/>
    /// is a perfect network that still delivers through the scheduler, never inside <c>Send</c>.</summary>
    public MemoryDatagramNetwork(IScheduler scheduler, LossyLinkOptions? impairment = null)
    {
        _scheduler = scheduler;
        _impairment = impairment;
    }

    /// <summary>Datagrams sent to an address no channel was bound to.</summary>
    public long Undeliverable => Interlocked.Read(ref _undeliverable);

    /// <summary>Binds a channel to <paramref name="endPoint"/>; port 0 picks the next free port.</summary>
    /// <exception cref="SocketException">The address is already bound (AddressAlreadyInUse).</exception>
    public DatagramChannel Bind(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        while (true)
        {
            var ep = endPoint.Port != 0 ? endPoint : new IPEndPoint(endPoint.Address, Interlocked.Increment(ref _nextPort));
            int index = Interlocked.Increment(ref _channels);
            var policy = _impairment is null ? null : new LossyLinkPolicy(_impairment, unchecked(_impairment.Seed + index));
            var channel = new Channel(this, ep, policy);
            if (_bound.TryAdd(channel.Address, channel)) return channel;
            if (endPoint.Port != 0) throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }
    }

    /// <summary>Binds a channel to 127.0.0.1 on the next free port.</summary>
    public DatagramChannel Bind() => Bind(new IPEndPoint(IPAddress.Loopback, 0));

    private void Route(Channel from, byte[] datagram, SocketAddress target, TimeSpan delay)
    {
        _scheduler.Schedule((this, from, datagram, target), delay, static (_, d) =>
        {
            if (d.Item1._bound.TryGetValue(d.target, out var to)) to.Deliver(d.datagram, d.from.Address);
            else Interlocked.Increment(ref d.Item1._undeliverable);
            return Disposable.Empty;
        });
    }

    private sealed class Channel : DatagramChannel
    {
        private readonly MemoryDatagramNetwork _network;
        private readonly LossyLinkPolicy? _policy;
        private readonly IPEndPoint _local;
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly object _deliverGate = new();
        private DatagramHandler? _handler;
        private volatile bool _disposed;

        public Channel(MemoryDatagramNetwork network, IPEndPoint local, LossyLinkPolicy? policy)
        {
            _network = network;
            _local = local;
            _policy = policy;
            Address = local.Serialize();
        }

        public SocketAddress Address { get; }

        public override IPEndPoint LocalEndPoint => _local;

        public override Task Completion => _completion.Task;

        // Datagrams that arrive before Start wait, as in a socket's receive buffer.
        private List<(byte[] Datagram, SocketAddress From)>? _early = [];

        public override void Start(DatagramHandler handler)
        {
            lock (_deliverGate)
            {
                _handler = handler;
                foreach (var (datagram, from) in _early!) handler(datagram, from);
                _early = null;
            }
        }

        public override void Send(ReadOnlySpan<byte> datagram, SocketAddress target)
        {
            if (_disposed) return;
            var delay = TimeSpan.Zero;
            if (_policy is not null)
            {
                LinkVerdict verdict;
                lock (_policy) verdict = _policy.Next();
                if (verdict.Dropped) return;
                delay = verdict.Delay;
                if (verdict.Duplicated) _network.Route(this, datagram.ToArray(), Copy(target), verdict.DuplicateDelay);
            }
            _network.Route(this, datagram.ToArray(), Copy(target), delay);
        }

        public void Deliver(byte[] datagram, SocketAddress from)
        {
            lock (_deliverGate)
            {
                if (_disposed) return;
                if (_handler is { } handler) handler(datagram, from);
                else _early!.Add((datagram, from));
            }
        }

        public override void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _network._bound.TryRemove(new KeyValuePair<SocketAddress, Channel>(Address, this));
            _completion.TrySetResult();
        }
    }
}

/// <summary>
/// One end of a <see cref="LossyLink"/> as a <see cref="DatagramChannel"/> with a fixed peer: a KCP client and server
/// talk through the link's loss, delay and reordering, in virtual time under a <c>TestScheduler</c>.
/// </summary>
/// <remarks>Datagrams arrive with <paramref name="remote"/> as their source; sends to any other address are lost.</remarks>
internal sealed class LossyLinkChannel(LossyLinkEnd end, IPEndPoint local, IPEndPoint remote) : DatagramChannel
{
    private readonly SocketAddress _remote = remote.Serialize();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDisposable? _subscription;
    private volatile bool _disposed;

    public override IPEndPoint LocalEndPoint => local;

    public override Task Completion => _completion.Task;

    public override void Start(DatagramHandler handler) =>
        _subscription = end.Received.Subscribe(datagram =>
        {
            if (!_disposed) handler(datagram.Span, _remote);
        });

    public override void Send(ReadOnlySpan<byte> datagram, SocketAddress target)
    {
        if (!_disposed && target.Equals(_remote)) end.Send(datagram);
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _subscription?.Dispose();
        _completion.TrySetResult();
    }
}
