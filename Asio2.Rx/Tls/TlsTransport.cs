using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Security.Cryptography.X509Certificates;

namespace Asio2.Rx;

/// <summary>
/// TLS under a <see cref="StreamSession"/>: an <see cref="SslStream"/> over the connection. The handshake runs in
/// <see cref="StartAsync"/> (before the first read, so frames start after it), bounded by a timer on the session's
/// scheduler; writes queued meanwhile wait for it. A failed handshake closes the session with
/// <see cref="CloseKind.HandshakeFailed"/> (or <see cref="CloseKind.HandshakeTimeout"/>) and a
/// <see cref="TlsHandshakeException"/> saying why, and is counted as error "handshake" on the meter.
/// </summary>
/// <remarks>
/// One read and one write may run at once (what SslStream allows); the session guarantees one of each. The handshake
/// state moves once from handshaking to done or failed (compare-and-swap), so a timer firing just as the handshake
/// finishes yields exactly one outcome.
/// </remarks>
internal sealed class TlsTransport : Transport
{
    private const int Handshaking = 0, Done = 1, Failed = 2;

    private readonly Socket? _socket;
    private readonly SocketChannel? _channel;
    private readonly HandshakeProbeStream _probe;
    private readonly SslStream _ssl;
    private readonly TlsServerSettings? _server;
    private readonly TlsClientSettings? _client;
    private readonly string? _targetHost;
    private readonly EndPoint? _local;
    private readonly EndPoint? _remote;
    private readonly RemoteCertificateValidationCallback _validate;
    private readonly TaskCompletionSource _handshake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly AsyncSubject<TlsHandshakeInfo> _handshakes = new();
    private Session? _session;
    private IDisposable? _timer;
    private int _state;
    private TlsHandshakeException? _verdict; // set by our callbacks during the handshake; explains the exception that follows
    private string? _sniHost;

    /// <summary>Server side over an accepted socket.</summary>
    public TlsTransport(Socket socket, TlsServerSettings server)
        : this(new SocketChannel(socket), server, null, null)
    {
    }

    /// <summary>Client side over a connected socket; <paramref name="targetHost"/> is checked against the server's certificate.</summary>
    public TlsTransport(Socket socket, TlsClientSettings client, string targetHost)
        : this(new SocketChannel(socket), null, client, targetHost)
    {
    }

    /// <summary>Over any stream (tests: in-memory or pre-connected streams).</summary>
    internal TlsTransport(Stream stream, TlsServerSettings? server, TlsClientSettings? client, string? targetHost, EndPoint? local = null, EndPoint? remote = null)
        : this(null, stream, local, remote, server, client, targetHost)
    {
    }

    private TlsTransport(SocketChannel channel, TlsServerSettings? server, TlsClientSettings? client, string? targetHost)
        : this(channel, new SocketChannelStream(channel), channel.Socket.LocalEndPoint, channel.Socket.RemoteEndPoint, server, client, targetHost)
    {
    }

    private TlsTransport(SocketChannel? channel, Stream stream, EndPoint? local, EndPoint? remote,
        TlsServerSettings? server, TlsClientSettings? client, string? targetHost)
    {
        if ((server is null) == (client is null)) throw new ArgumentException("exactly one of server and client settings");
        _channel = channel;
        _socket = channel?.Socket;
        _local = local;
        _remote = remote;
        _server = server;
        _client = client;
        _targetHost = targetHost;
        _probe = new HandshakeProbeStream(stream);
        _ssl = new SslStream(_probe, leaveInnerStreamOpen: false);
        _validate = Validate;
    }

    public override string Name => "tls";
    public override EndPoint? LocalEndPoint => _local;
    public override EndPoint? RemoteEndPoint => _remote;

    private bool IsServer => _server is not null;
    private TlsCommonSettings Common => _server?.Common ?? _client!.Common;

    /// <summary>The negotiated parameters, once the handshake finished.</summary>
    public TlsHandshakeInfo? Info { get; private set; }

    /// <summary>The handshake's outcome on the session's scheduler: one value on success, empty completion on failure.</summary>
    public IObservable<TlsHandshakeInfo> Handshake => _handshakes.AsObservable();

    /// <summary>Completes when the handshake succeeded and its notification was scheduled (tests).</summary>
    internal Task HandshakeCompleted => _handshake.Task;

    /// <summary>True while the handshake runs with its timeout armed (tests wait for this before moving virtual time).</summary>
    internal bool IsHandshakeTimerArmed => Volatile.Read(ref _timer) is not null && Volatile.Read(ref _state) == Handshaking;

    public override async ValueTask StartAsync(Session session, CancellationToken cancellationToken)
    {
        _session = session;
        // The handshake's reads already complete on the session's loop, where its frames will be delivered.
        _channel?.Attach(session.Scheduler);
        // A failed or aborted handshake completes the handshake stream when the session finishes (on its scheduler).
        session.Closed.Subscribe(static _ => { }, _handshakes.OnCompleted);
        // An immediate scheduler would block this thread for the whole timeout; it has no timers, so use the pool's.
        var timers = session.Scheduler is ImmediateScheduler ? DefaultScheduler.Instance : session.Scheduler;
        Volatile.Write(ref _timer, DetachedTimer.Schedule(timers, Common.HandshakeTimeout, this, static t => t.OnHandshakeTimeout()));
        try
        {
            if (_server is not null)
                await _ssl.AuthenticateAsServerAsync(static (_, hello, state, _) => ((TlsTransport)state!).SelectServerOptions(hello), this, cancellationToken).ConfigureAwait(false);
            else
                await _ssl.AuthenticateAsClientAsync(_client!.CreateOptions(_targetHost!, _validate), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _timer?.Dispose();
            var failure = _verdict is { } v && ex is not TlsHandshakeException ? WithInner(v, ex) : TlsDiagnosis.FromException(ex, _probe, IsServer);
            if (Interlocked.CompareExchange(ref _state, Failed, Handshaking) == Handshaking && session.IsOpen)
            {
                session.Settings.Metrics.Error(session.Transport, "handshake");
                session.Shutdown(new CloseReason(CloseKind.HandshakeFailed, failure, failure.Message), graceful: false);
            }
            FailHandshake(failure);
            throw failure;
        }
        _timer?.Dispose();
        if (Interlocked.CompareExchange(ref _state, Done, Handshaking) != Handshaking)
        {
            // The timeout fired as the handshake finished: the session is already closing with HandshakeTimeout.
            var late = TlsDiagnosis.Fail(TlsHandshakeError.Timeout, "the handshake finished after its timeout");
            FailHandshake(late);
            throw late;
        }
        _probe.StopWatching();
        Info = CreateInfo(session);
        session.Scheduler.Schedule(this, static (_, t) =>
        {
            t._handshakes.OnNext(t.Info!);
            t._handshakes.OnCompleted();
            return Disposable.Empty;
        });
        _handshake.TrySetResult();
    }

    private static TlsHandshakeException WithInner(TlsHandshakeException verdict, Exception inner) =>
        new(verdict.Error, verdict.Message, inner);

    private void OnHandshakeTimeout()
    {
        if (Interlocked.CompareExchange(ref _state, Failed, Handshaking) != Handshaking) return;
        var session = _session!;
        var failure = TlsDiagnosis.Fail(TlsHandshakeError.Timeout,
            $"not finished within {Common.HandshakeTimeout.TotalMilliseconds:0} ms (received {_probe.BytesRead} bytes from the peer)");
        if (session.IsOpen) session.Settings.Metrics.Error(session.Transport, "handshake");
        session.Shutdown(new CloseReason(CloseKind.HandshakeTimeout, failure, failure.Message), graceful: false);
        FailHandshake(failure);
    }

    /// <summary>Fails sends that wait for the handshake. Marked observed: nobody may be waiting, and that is fine.</summary>
    private void FailHandshake(Exception failure)
    {
        if (_handshake.TrySetException(failure)) _ = _handshake.Task.Exception;
    }

    private ValueTask<SslServerAuthenticationOptions> SelectServerOptions(SslClientHelloInfo hello)
    {
        _sniHost = string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName;
        var certificate = _server!.Select(_sniHost);
        if (certificate is null)
        {
            _verdict = TlsDiagnosis.Fail(TlsHandshakeError.UnknownServerName,
                $"the client asked for host '{_sniHost ?? "(no SNI)"}', which has no certificate, and there is no default certificate");
            throw _verdict;
        }
        return new ValueTask<SslServerAuthenticationOptions>(_server.CreateOptions(certificate, _validate));
    }

    /// <summary>Every peer certificate passes through here: the built-in verdict, the user's callback, the opt-outs.</summary>
    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var common = Common;
        if (IsServer && certificate is null)
        {
            // Mode None never asks for a certificate; Optional accepts its absence.
            if (_server!.ClientCertificateMode == TlsClientCertificateMode.None) return true;
            if (_server.ClientCertificateMode == TlsClientCertificateMode.Optional) errors &= ~SslPolicyErrors.RemoteCertificateNotAvailable;
        }
        if (common.AcceptAnyCertificate) return true;
        var cert = certificate as X509Certificate2;
        string? host = IsServer ? _sniHost : _targetHost;
        var (error, message) = TlsDiagnosis.FromPolicyErrors(errors, cert, chain, IsServer, host, common.TrustedCas is not null);
        if (common.Validation is not { } callback)
        {
            if (error is { } e) _verdict = TlsDiagnosis.Fail(e, message!);
            return error is null;
        }
        bool accepted;
        try
        {
            accepted = callback(new TlsCertificateCheck(cert, chain, errors, error, host, _remote, IsServer));
        }
        catch (Exception ex)
        {
            _verdict = TlsDiagnosis.Fail(TlsHandshakeError.CertificateRejected, $"RemoteCertificateValidation threw {ex.GetType().Name}: {ex.Message}", ex);
            return false;
        }
        if (!accepted)
        {
            _verdict = error is { } e
                ? TlsDiagnosis.Fail(e, message!)
                : TlsDiagnosis.Fail(TlsHandshakeError.CertificateRejected, $"RemoteCertificateValidation rejected the certificate '{cert?.Subject ?? "(none)"}'");
        }
        return accepted;
    }

    private TlsHandshakeInfo CreateInfo(Session session)
    {
        // SslStream disposes its remote certificate with itself; the info outlives the session, so it gets a copy.
        var remote = _ssl.RemoteCertificate;
        var peer = remote is null ? null : X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
        var alpn = _ssl.NegotiatedApplicationProtocol;
        return new TlsHandshakeInfo(session, IsServer, _ssl.SslProtocol, _ssl.NegotiatedCipherSuite,
            alpn.Protocol.IsEmpty ? null : alpn.ToString(), peer, IsServer ? _sniHost : _targetHost);
    }

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _ssl.ReadAsync(buffer, cancellationToken);

    // SslStream waits for data on a zero-byte read without decrypting into (or renting) a buffer of ours.
    public override bool SupportsZeroByteReads => true;

    public override Stream Detach()
    {
        _channel?.Detach();
        return _ssl;
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        Volatile.Read(ref _state) == Done ? _ssl.WriteAsync(data, cancellationToken) : SendAfterHandshakeAsync(data, cancellationToken);

    /// <summary>Sends queued before the handshake finished wait for it (SslStream cannot write before then).</summary>
    private async ValueTask SendAfterHandshakeAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _handshake.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _ssl.WriteAsync(data, cancellationToken).ConfigureAwait(false);
    }

    public override CloseReason Classify(Exception ex)
    {
        if (ex is TlsHandshakeException t)
            return new CloseReason(t.Error == TlsHandshakeError.Timeout ? CloseKind.HandshakeTimeout : CloseKind.HandshakeFailed, t, t.Message);
        if (TlsDiagnosis.FromLateAlert(ex) is { } late)
        {
            if (Interlocked.CompareExchange(ref _state, Failed, Done) == Done && _session is { } s) s.Settings.Metrics.Error(s.Transport, "handshake");
            return new CloseReason(CloseKind.HandshakeFailed, late, late.Message);
        }
        return ErrorClassifier.Classify(ex);
    }

    public override void Shutdown()
    {
        // close_notify first (RFC 8446 §6.1), then FIN. Best effort: it is one small write that normally completes at
        // once; if it cannot, the FIN still tells the peer the stream ended.
        if (Volatile.Read(ref _state) == Done)
        {
            try
            {
                var notify = _ssl.ShutdownAsync();
                if (!notify.IsCompleted) _ = notify.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
                else _ = notify.Exception;
            }
            catch (Exception)
            {
                // a write in flight or the stream already failed: skip close_notify
            }
        }
        if (_socket is null) return;
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public override void Abort()
    {
        if (_socket is null) return;
        // Linger 0 makes close() send RST and drop unsent data.
        try { _socket.LingerState = new LingerOption(true, 0); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public override void Dispose()
    {
        _ssl.Dispose();
        if (Volatile.Read(ref _state) == Handshaking) FailHandshake(new ObjectDisposedException(nameof(TlsTransport)));
    }
}
