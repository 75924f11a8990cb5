using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Subjects;

namespace Asio2.Rx;

/// <summary>
/// An in-process datagram link between two ends, <see cref="A"/> and <see cref="B"/>, that loses,
/// delays, reorders and duplicates datagrams like a bad network, for tests and benchmarks of
/// datagram protocols such as KCP (this kernel has no netem).
/// </summary>
/// <remarks>
/// <para>
/// Time comes only from the <see cref="IScheduler"/>: every datagram that survives is delivered by
/// <see cref="IScheduler.Schedule{TState}(TState, TimeSpan, Func{IScheduler, TState, IDisposable})"/>
/// after its drawn delay, so a <c>TestScheduler</c> runs a lossy transfer in virtual time. Delivery never
/// happens inside <see cref="LossyLinkEnd.Send"/>, so a protocol may send from its receive handler.
/// </para>
/// <para>
/// Each direction draws from its own seeded <see cref="Random"/> (see <see cref="LossyLinkOptions.Seed"/>),
/// so equal options and an equal sequence of sends give equal losses, delays and duplicates.
/// </para>
/// <para>
/// Thread-safety: <see cref="LossyLinkEnd.Send"/> may be called from any thread. Deliveries to one end are
/// serialised, so its <see cref="LossyLinkEnd.Received"/> observers are never called concurrently.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// var scheduler = new TestScheduler();
/// using var link = new LossyLink(new LossyLinkOptions { LossRate = 0.1, MinDelay = TimeSpan.FromMilliseconds(30),
///                                                      MaxDelay = TimeSpan.FromMilliseconds(60), Seed = 42 }, scheduler);
/// link.B.Received.Subscribe(datagram => Console.WriteLine(datagram.Length));
/// link.A.Send("hello"u8);
/// scheduler.Start();
/// </code>
/// </example>
public sealed class LossyLink : IDisposable
{
    /// <summary>Creates a link impaired the same way in both directions.</summary>
    /// <param name="options">Impairment of each direction. B → A is seeded with <c>Seed + 1</c>.</param>
    /// <param name="scheduler">Delivers datagrams after their delay.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><see cref="LossyLinkOptions.MaxDelay"/> is below <see cref="LossyLinkOptions.MinDelay"/>.</exception>
    public LossyLink(LossyLinkOptions options, IScheduler scheduler)
        : this(Policy(options, 0), Policy(options, 1), scheduler)
    {
    }

    /// <summary>Creates a link impaired differently in each direction.</summary>
    /// <param name="aToB">Impairment of datagrams sent by <see cref="A"/>.</param>
    /// <param name="bToA">Impairment of datagrams sent by <see cref="B"/>.</param>
    /// <param name="scheduler">Delivers datagrams after their delay.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A <see cref="LossyLinkOptions.MaxDelay"/> is below its <see cref="LossyLinkOptions.MinDelay"/>.</exception>
    public LossyLink(LossyLinkOptions aToB, LossyLinkOptions bToA, IScheduler scheduler)
        : this(Policy(aToB, 0), Policy(bToA, 0), scheduler)
    {
    }

    private LossyLink(LossyLinkPolicy aToB, LossyLinkPolicy bToA, IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        A = new LossyLinkEnd(this, aToB, scheduler);
        B = new LossyLinkEnd(this, bToA, scheduler);
        A.Peer = B;
        B.Peer = A;
    }

    /// <summary>One end; what it sends arrives at <see cref="B"/>.</summary>
    public LossyLinkEnd A { get; }

    /// <summary>The other end; what it sends arrives at <see cref="A"/>.</summary>
    public LossyLinkEnd B { get; }

    // Read by sends and deliveries on any thread.
    private volatile bool _disposed;

    internal bool IsDisposed => _disposed;

    /// <summary>
    /// Takes the link down: datagrams still in flight are discarded when they fall due, later sends are
    /// ignored, and both <see cref="LossyLinkEnd.Received"/> streams complete.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        A.Complete();
        B.Complete();
    }

    private static LossyLinkPolicy Policy(LossyLinkOptions options, int seedOffset)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new LossyLinkPolicy(options, unchecked(options.Seed + seedOffset));
    }
}

/// <summary>
/// One end of a <see cref="LossyLink"/>: sends datagrams to the other end and receives the other end's.
/// The counters describe the datagrams this end sent.
/// </summary>
public sealed class LossyLinkEnd
{
    private static readonly Func<IScheduler, (LossyLinkEnd Sender, byte[] Datagram), IDisposable> DeliverAction =
        static (_, delivery) =>
        {
            delivery.Sender.Deliver(delivery.Datagram);
            return Disposable.Empty;
        };

    private readonly LossyLink _link;
    private readonly LossyLinkPolicy _policy;
    private readonly IScheduler _scheduler;
    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly object _sendGate = new();
    private readonly object _deliverGate = new();
    private long _sent;
    private long _dropped;
    private long _duplicated;
    private long _delivered;

    internal LossyLinkEnd(LossyLink link, LossyLinkPolicy policy, IScheduler scheduler)
    {
        _link = link;
        _policy = policy;
        _scheduler = scheduler;
    }

    /// <summary>The end that receives what this end sends.</summary>
    public LossyLinkEnd Peer { get; internal set; } = null!;

    /// <summary>
    /// Datagrams arriving at this end, each in its own array (safe to keep). Hot: a datagram that arrives
    /// while nobody is subscribed is lost, as UDP to a closed port. Completes when the link is disposed;
    /// never errors.
    /// </summary>
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <summary>
    /// While true, every datagram this end sends is dropped (and counted in <see cref="Dropped"/>), as when
    /// the path is cut or the peer vanishes; datagrams already in flight still arrive. Defaults to false.
    /// </summary>
    public bool DropAll { get; set; }

    /// <summary>Datagrams this end has sent.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Datagrams this end sent that the link dropped.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Extra copies the link made of datagrams this end sent.</summary>
    public long Duplicated => Interlocked.Read(ref _duplicated);

    /// <summary>Copies of datagrams this end sent that reached <see cref="Peer"/>, duplicates included.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Copies of datagrams this end sent that are still on their way.</summary>
    public long InFlight => Sent - Dropped + Duplicated - Delivered;

    /// <summary>
    /// Copies <paramref name="datagram"/> and delivers it to <see cref="Peer"/> after a drawn delay, unless
    /// the link drops it; maybe twice. Returns at once. Ignored once the link is disposed.
    /// </summary>
    public void Send(ReadOnlySpan<byte> datagram)
    {
        if (_link.IsDisposed)
        {
            return;
        }

        LinkVerdict verdict;
        lock (_sendGate)
        {
            // Drawn for every datagram, DropAll or not, so cutting the path does not shift later draws.
            verdict = _policy.Next();
            Interlocked.Increment(ref _sent);
            if (verdict.Dropped || DropAll)
            {
                Interlocked.Increment(ref _dropped);
                return;
            }
        }

        // One array for both copies: receivers get read-only memory.
        (LossyLinkEnd, byte[]) delivery = (this, datagram.ToArray());
        _scheduler.Schedule(delivery, verdict.Delay, DeliverAction);
        if (verdict.Duplicated)
        {
            Interlocked.Increment(ref _duplicated);
            _scheduler.Schedule(delivery, verdict.DuplicateDelay, DeliverAction);
        }
    }

    internal void Complete()
    {
        lock (_deliverGate)
        {
            _received.OnCompleted();
        }
    }

    private void Deliver(byte[] datagram)
    {
        LossyLinkEnd target = Peer;
        lock (target._deliverGate)
        {
            if (_link.IsDisposed)
            {
                return;
            }

            Interlocked.Increment(ref _delivered);
            target._received.OnNext(datagram);
        }
    }
}
