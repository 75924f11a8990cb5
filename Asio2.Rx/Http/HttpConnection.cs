using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

/// <summary>
/// The HTTP side of one session: turns the framing's items into requests, dispatches them, and writes responses in
/// request order through the session's send queue. Everything here runs on the session's scheduler (responses
/// committed on other threads are posted to it), so the state below needs no locks.
/// </summary>
internal sealed partial class HttpConnection : IHttpBodyOwner
{
    [ThreadStatic] private static HttpConnection? t_current;

    private readonly HttpServer _server;
    private readonly Session _session;
    private readonly HttpRequestDecoder _decoder;
    private readonly HttpLimits _limits;
    private readonly Queue<HttpContext> _pipeline = new();
    private readonly IDisposable _heartbeat;
    private HttpContext? _reading; // the request whose body is arriving
    private DateTimeOffset _bodyStart;
    private DateTimeOffset _idleSince;
    private DateTimeOffset? _headStart;
    private HttpRejectedException? _rejection; // answered once the responses before it are written
    private bool _writing;
    private bool _closeAfterPipeline;
    private bool _done;
    private bool _continueSent;
    private IDisposable? _bodyHold; // reading held while a body's unread pieces are over the high water mark
    private IDisposable? _upgradeHold; // reading held from an upgrade request until it is answered

    /// <summary>How often timeouts are checked: Kestrel's heartbeat is 1 s too.</summary>
    internal static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);

    public HttpConnection(HttpServer server, Session session, HttpRequestDecoder decoder)
    {
        _server = server;
        _session = session;
        _decoder = decoder;
        _limits = server.Limits;
        _idleSince = session.Scheduler.Now;
        session.Frames.Subscribe(OnFrame);
        var heartbeat = new SerialDisposable();
        _heartbeat = heartbeat;
        heartbeat.Disposable = session.Scheduler.Schedule(this, Heartbeat, static (_, c) => c.Tick());
        session.Closed.Subscribe(OnClosed);
    }

    public Session Session => _session;

    public bool IsIdle => _pipeline.Count == 0 && _reading is null;

    private void OnFrame(Frame frame)
    {
        if (_done || !_decoder.Items.TryDequeue(out var item)) return;
        var previous = t_current;
        t_current = this;
        try
        {
            switch (item.Kind)
            {
                case HttpItemKind.Head:
                    OnHead(item.Head!);
                    break;
                case HttpItemKind.Body:
                    var reading = _reading!;
                    reading.Request.Body.Push(frame.Data);
                    if (item.End)
                    {
                        _reading = null;
                        reading.Request.Body.Complete();
                    }
                    break;
                case HttpItemKind.Rejected:
                    Reject(item.Rejection!);
                    break;
            }
        }
        finally
        {
            t_current = previous;
        }
    }

    private void OnHead(HttpRequestHead head)
    {
        _headStart = null;
        // The decoder stopped after an upgrade request; no receive either, so the bytes read so far (and nothing
        // more) are what a hand-over finds buffered.
        if (head.Upgrade is not null) _upgradeHold = _session.HoldReading();
        var body = new HttpRequestBody(this, empty: !head.HasBody);
        var context = new HttpContext(this, head, _session, body);
        _pipeline.Enqueue(context);
        if (head.HasBody)
        {
            _reading = context;
            _bodyStart = _session.Scheduler.Now;
        }
        HttpTelemetry.RequestStarted(context);
        _server.Dispatch(context);
    }

    /// <summary>Refuses the input: the request being read (if its response has not started) and the connection get
    /// the rejection's status, then the connection closes. Nothing after it is parsed.</summary>
    private void Reject(HttpRejectedException rejection)
    {
        if (_done) return;
        HttpTelemetry.Rejected(_session, rejection.Reason);
        Asio2Log.HttpRequestRefused(_server.Logger, _session, rejection.Reason, rejection.Message);
        _closeAfterPipeline = true;
        if (_reading is { } reading)
        {
            _reading = null;
            // Commit the refusal before failing the body, so a handler reacting to the failure finds it answered.
            bool answered = reading.Response.TryCommitError(rejection.StatusCode);
            reading.Request.Body.Fail(rejection);
            // Otherwise its response was committed already: nothing more can be said in HTTP on this connection.
            if (!answered) _session.Abort();
            return;
        }
        _rejection = rejection;
        Pump();
    }

    /// <summary>A response was committed, on any thread.</summary>
    internal void ResponseReady(HttpContext context)
    {
        if (ReferenceEquals(t_current, this))
        {
            _server.RunAfterHooks(context);
            Pump();
            return;
        }
        _session.Scheduler.Schedule((this, context), static (_, s) =>
        {
            var previous = t_current;
            t_current = s.Item1;
            try
            {
                s.Item1._server.RunAfterHooks(s.context);
                s.Item1.Pump();
            }
            finally
            {
                t_current = previous;
            }
            return Disposable.Empty;
        });
    }

    /// <summary>Writes the responses that are ready, in request order.</summary>
    private void Pump()
    {
        while (!_writing && !_done && _pipeline.TryPeek(out var context))
        {
            if (context.Response.Body is null)
            {
                if (context.WantsContinue) SendContinue(context);
                return;
            }
            bool keepAlive = DecideKeepAlive(context);
            var pending = WriteResponse(context, keepAlive);
            if (pending is null)
            {
                Finish(context, keepAlive);
                continue;
            }
            _writing = true;
            _ = AwaitWrite(pending, context, keepAlive);
            return;
        }
        if (_pipeline.Count > 0 || _writing || _done) return;
        if (_rejection is { } rejection)
        {
            _rejection = null;
            WriteError(rejection.StatusCode);
            Close();
        }
        else if (_closeAfterPipeline && _reading is null)
        {
            Close();
        }
        else
        {
            _idleSince = _session.Scheduler.Now;
        }
    }

    private async Task AwaitWrite(Task pending, HttpContext context, bool keepAlive)
    {
        bool ok = true;
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ok = false;
            if (_session.IsOpen) Asio2Log.HttpWriteFailed(_server.Logger, ex, _session, context);
            _session.Abort();
        }
        _session.Scheduler.Schedule((this, context, keepAlive, ok), static (_, s) =>
        {
            var c = s.Item1;
            c._writing = false;
            if (!s.ok) return Disposable.Empty;
            c.Finish(s.context, s.keepAlive);
            c.Pump();
            return Disposable.Empty;
        });
    }

    private void Finish(HttpContext context, bool keepAlive)
    {
        _pipeline.Dequeue();
        context.Request.End();
        _continueSent = false;
        HttpTelemetry.RequestFinished(context, _session.Scheduler.Now - context.StartedAt);
        var body = context.Request.Body;
        if (!body.IsComplete && !body.IsBeingRead) body.Discard();
        if (!keepAlive)
        {
            _closeAfterPipeline = true;
            Close();
        }
    }

    private bool DecideKeepAlive(HttpContext context)
    {
        var request = context.Request;
        if (!request.KeepAlive || _closeAfterPipeline || _server.IsStopping) return false;
        // A declined upgrade: the decoder stopped at the upgrade request, so the connection cannot carry more HTTP.
        if (request.Head.Upgrade is not null && _decoder.IsPaused) return false;
        // The client waits for 100 Continue before sending the body; without it, what comes next is unknowable.
        if (request.Head.ExpectContinue && !_continueSent && !request.Body.IsComplete) return false;
        // HTTP/1.0 cannot carry a body of unknown length except by closing.
        if (context.Response.Body!.Length is null && request.Head.Version == 10 && !IsBodiless(context)) return false;
        return true;
    }

    private void SendContinue(HttpContext context)
    {
        if (_continueSent || context.Request.Body.IsComplete) return;
        _continueSent = true;
        _session.Send("HTTP/1.1 100 Continue\r\n\r\n"u8);
    }

    /// <summary>The body started being read (any thread): a client that sent Expect: 100-continue may send it now.</summary>
    void IHttpBodyOwner.BodyReadStarted(HttpRequestBody body)
    {
        _session.Scheduler.Schedule((this, body), static (_, s) =>
        {
            var c = s.Item1;
            foreach (var context in c._pipeline)
            {
                if (!ReferenceEquals(context.Request.Body, s.body)) continue;
                if (!context.Request.Head.ExpectContinue) break;
                context.WantsContinue = true;
                if (ReferenceEquals(c._pipeline.Peek(), context) && context.Response.Body is null && !c._writing) c.SendContinue(context);
                break;
            }
            return Disposable.Empty;
        });
    }

    /// <summary>Unread body pieces passed the high water mark (hold reading) or drained below the low one (release):
    /// the core's read credit, so a slow body reader slows the client through TCP instead of filling memory.</summary>
    void IHttpBodyOwner.BodyPressure(HttpRequestBody body, bool hold)
    {
        if (hold)
        {
            var handle = _session.HoldReading();
            if (Interlocked.CompareExchange(ref _bodyHold, handle, null) is not null) handle.Dispose();
        }
        else
        {
            Interlocked.Exchange(ref _bodyHold, null)?.Dispose();
        }
    }

    internal void BeginShutdown() => _session.Scheduler.Schedule(this, static (_, c) =>
    {
        c._closeAfterPipeline = true;
        if (c.IsIdle && !c._writing) c.Close();
        return Disposable.Empty;
    });

    private void Close()
    {
        if (_done) return;
        _done = true;
        _heartbeat.Dispose();
        _session.Close();
    }

    private void OnClosed(CloseReason reason)
    {
        _done = true;
        _heartbeat.Dispose();
        Interlocked.Exchange(ref _bodyHold, null)?.Dispose();
        _upgradeHold?.Dispose();
        _reading?.Request.Body.Fail(new SessionClosedException(reason));
        _reading = null;
        foreach (var context in _pipeline) context.Request.End();
        foreach (var context in _pipeline) HttpTelemetry.RequestAborted(context, _session.Scheduler.Now - context.StartedAt, reason);
        _server.Forget(this);
    }

    /// <summary>Timeouts, once per <see cref="Heartbeat"/>: keep-alive, request headers, minimum body data rate.</summary>
    private IDisposable Tick()
    {
        if (_done) return Disposable.Empty;
        var now = _session.Scheduler.Now;
        // Time while the application holds the body back does not count against the client's rate (as Kestrel).
        if (Volatile.Read(ref _bodyHold) is not null) _bodyStart += Heartbeat;
        if (_reading is { } reading && _limits.MinRequestBodyDataRate > 0)
        {
            var elapsed = now - _bodyStart;
            if (elapsed > _limits.MinRequestBodyDataRateGracePeriod
                && reading.Request.Body.BytesReceived < _limits.MinRequestBodyDataRate * elapsed.TotalSeconds)
            {
                Reject(new HttpRejectedException(HttpRejection.BodyDataRateTooLow, $"the body arrived slower than {_limits.MinRequestBodyDataRate} B/s"));
                return Disposable.Empty;
            }
        }
        if (IsIdle && !_writing)
        {
            if (_decoder.HasPartialHead)
            {
                _headStart ??= now;
                if (now - _headStart.Value >= _limits.RequestHeadersTimeout)
                {
                    Reject(new HttpRejectedException(HttpRejection.RequestHeadersTimeout, $"the request headers took longer than {_limits.RequestHeadersTimeout}"));
                    return Disposable.Empty;
                }
            }
            else
            {
                _headStart = null;
                if (now - _idleSince >= _limits.KeepAliveTimeout)
                {
                    Close();
                    return Disposable.Empty;
                }
            }
        }
        ((SerialDisposable)_heartbeat).Disposable = _session.Scheduler.Schedule(this, Heartbeat, static (_, c) => c.Tick());
        return Disposable.Empty;
    }
}
