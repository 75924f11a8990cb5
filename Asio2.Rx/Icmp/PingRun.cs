using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// One subscription to a ping: its own endpoint, a request at every interval tick of the scheduler, replies matched by
/// identifier and sequence, a timeout per request, completion after <see cref="PingSettings.Count"/> outcomes.
/// </summary>
/// <remarks>
/// Thread safety: the scheduler's actions (send, timeout, reply) and <see cref="Dispose"/> take one lock, so state is
/// touched and results are emitted one at a time even on a concurrent scheduler. The receive loop only parses and
/// timestamps a packet, queues it and schedules a drain; it never takes the lock. Replies are matched in the order they
/// arrived, since two actions on a concurrent scheduler (the default) may run in either order.
/// </remarks>
internal sealed class PingRun : IDisposable, IIcmpReceiver
{
    // Seeded at random so that two processes are unlikely to pick the same identifiers (a raw socket sees both).
    private static int s_nextIdentifier = Random.Shared.Next(ushort.MaxValue + 1);

    private readonly IPAddress _destination;
    private readonly PingSettings _settings;
    private readonly IScheduler _scheduler;
    private readonly IObserver<PingReply> _observer;
    private readonly IcmpCounters _counters;
    private readonly ushort _identifier;
    private readonly bool _ipv6;
    private readonly byte[] _request;
    private readonly Dictionary<ushort, Pending> _pending = [];
    private readonly ConcurrentQueue<Arrived> _arrived = new();
    private readonly object _gate = new();

    private IIcmpEndpoint? _endpoint;
    private bool _assignsIdentifier;
    private IStopwatch _clock = null!;
    private IDisposable _nextSend = Disposable.Empty;
    private long _sequence;
    private long _resolved;
    private bool _stopped;

    private PingRun(IPAddress destination, PingSettings settings, IObserver<PingReply> observer, IcmpCounters counters)
    {
        _destination = destination;
        _settings = settings;
        _scheduler = settings.Scheduler;
        _observer = observer;
        _counters = counters;
        _identifier = settings.Identifier ?? (ushort)Interlocked.Increment(ref s_nextIdentifier);
        _ipv6 = destination.AddressFamily == AddressFamily.InterNetworkV6;
        _request = new byte[IcmpCodec.HeaderSize + settings.Payload.Length];
    }

    /// <summary>A request sent and not yet answered or timed out.</summary>
    private readonly record struct Pending(long Sequence, TimeSpan SentAt, IDisposable Timeout);

    /// <summary>An echo reply taken off the socket and not yet matched.</summary>
    private readonly record struct Arrived(EchoReplyHeader Echo, IPAddress Source, TimeSpan ReceivedAt);

    /// <summary>The cold observable: every subscription is a new run with a new endpoint from <paramref name="openEndpoint"/>.</summary>
    public static IObservable<PingReply> Create(IPAddress destination, PingSettings settings, Func<IIcmpEndpoint> openEndpoint, IcmpCounters? counters) =>
        Observable.Create<PingReply>(observer =>
        {
            var run = new PingRun(destination, settings, observer, counters ?? new IcmpCounters());
            run.Start(openEndpoint);
            return run;
        });

    private void Start(Func<IIcmpEndpoint> openEndpoint)
    {
        IIcmpEndpoint endpoint;
        try
        {
            endpoint = openEndpoint();
        }
        catch (Exception e)
        {
            _observer.OnError(e);
            return;
        }

        _endpoint = endpoint;
        _assignsIdentifier = endpoint.AssignsIdentifier;
        _clock = _scheduler.StartStopwatch(); // monotonic on real schedulers, virtual on a TestScheduler
        endpoint.Start(this);
        // The first request goes out now, on subscription, rather than through the scheduler: the interval grid starts
        // at the subscription time exactly (a TestScheduler runs "now" work one tick late).
        SendNext();
    }

    private IDisposable SendNext()
    {
        lock (_gate)
        {
            if (_stopped) return Disposable.Empty;

            long sequence = _sequence++;
            ushort wireSequence = (ushort)sequence; // unique among pending requests: Icmp.Ping keeps Timeout below 65536 intervals
            int length = IcmpCodec.WriteEchoRequest(_request, _ipv6, _identifier, wireSequence, _settings.Payload);
            // Registered before sending, so a reply can never arrive for a request we do not know yet.
            IDisposable timeout = _scheduler.Schedule((Run: this, Sequence: sequence), _settings.Timeout, static (_, s) => s.Run.OnTimeout(s.Sequence));
            _pending[wireSequence] = new Pending(sequence, _clock.Elapsed, timeout);
            try
            {
                _endpoint!.Send(_request.AsSpan(0, length));
                _counters.OnSent();
            }
            catch (SocketException e)
            {
                // Unreachable network, no route, a full buffer: like ping, keep going; this request times out as lost.
                _counters.OnSendFailed();
                Asio2Log.PingSendFailed(_settings.Logger, e, sequence, _destination);
            }

            if (_settings.Count == PingOptions.Forever || _sequence < _settings.Count)
            {
                // Due from the start time rather than from now, so late ticks on a busy scheduler do not add up to drift.
                TimeSpan due = TimeSpan.FromTicks(_settings.Interval.Ticks * _sequence) - _clock.Elapsed;
                _nextSend = _scheduler.Schedule(this, due > TimeSpan.Zero ? due : TimeSpan.Zero, static (_, run) => run.SendNext());
            }
        }

        return Disposable.Empty;
    }

    private IDisposable OnTimeout(long sequence)
    {
        lock (_gate)
        {
            if (!_stopped && _pending.Remove((ushort)sequence))
            {
                _counters.OnTimeout();
                Emit(new PingReply(sequence, _destination, null, TimeSpan.Zero, TimedOut: true, 0));
            }
        }

        return Disposable.Empty;
    }

    void IIcmpReceiver.OnReceived(ReadOnlySpan<byte> packet, IPAddress source)
    {
        // Timestamped here, before queueing, so the round-trip time does not include the scheduler's delay.
        TimeSpan receivedAt = _clock.Elapsed;
        switch (IcmpCodec.Parse(packet, _ipv6, out EchoReplyHeader echo))
        {
            case IcmpPacketKind.Malformed:
                _counters.OnMalformed();
                return;
            case IcmpPacketKind.Other:
                _counters.OnUnmatched();
                return;
        }

        if (!_assignsIdentifier && echo.Identifier != _identifier)
        {
            _counters.OnUnmatched();
            return;
        }

        _arrived.Enqueue(new Arrived(echo, source, receivedAt));
        _scheduler.Schedule(this, static (_, run) => run.DrainArrived());
    }

    void IIcmpReceiver.OnReceiveError(Exception error) =>
        _scheduler.Schedule((Run: this, Error: error), static (_, s) => s.Run.Fail(s.Error));

    /// <summary>Matches every queued reply in arrival order; whichever scheduled drain runs first takes them all.</summary>
    private IDisposable DrainArrived()
    {
        lock (_gate)
        {
            while (!_stopped && _arrived.TryDequeue(out Arrived reply))
                OnEchoReply(reply.Echo, reply.Source, reply.ReceivedAt);
        }

        return Disposable.Empty;
    }

    /// <summary>Matches one reply to its request. Called under the lock.</summary>
    private void OnEchoReply(EchoReplyHeader echo, IPAddress source, TimeSpan receivedAt)
    {
        // A reply counts if it is matched before its timeout fires and came strictly within the timeout, so a reported
        // RoundTripTime is always below Timeout, even when a busy scheduler runs the timeout late.
        if (!_pending.TryGetValue(echo.Sequence, out Pending request) || receivedAt - request.SentAt >= _settings.Timeout)
        {
            _counters.OnLate();
            return;
        }

        _pending.Remove(echo.Sequence);
        request.Timeout.Dispose();
        _counters.OnReply();
        Emit(new PingReply(request.Sequence, source, echo.Ttl, receivedAt - request.SentAt, TimedOut: false, echo.Bytes));
    }

    private IDisposable Fail(Exception error)
    {
        lock (_gate)
        {
            if (_stopped) return Disposable.Empty;
            Asio2Log.PingSocketFailed(_settings.Logger, error, _destination);
            _observer.OnError(error);
            Dispose();
        }

        return Disposable.Empty;
    }

    /// <summary>Emits one outcome; completes after the last one. Called under the lock.</summary>
    private void Emit(PingReply reply)
    {
        _observer.OnNext(reply);
        // The observer may have disposed the subscription from OnNext (Take(n) does).
        if (++_resolved == _settings.Count && !_stopped)
        {
            _observer.OnCompleted();
            Dispose();
        }
    }

    /// <summary>Stops sending, cancels the timeouts and closes the endpoint. Idempotent.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            _nextSend.Dispose();
            foreach (Pending request in _pending.Values) request.Timeout.Dispose();
            _pending.Clear();
        }

        // After the lock is released (unless Dispose came from Emit or Fail): closing a socket may block briefly,
        // and no send can start once _stopped is set.
        _endpoint?.Dispose();
    }
}
