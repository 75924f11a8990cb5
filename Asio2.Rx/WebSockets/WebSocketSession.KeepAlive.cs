using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;

namespace Asio2.Rx;

// Liveness: a ping after a quiet interval, and a deadline for the peer to show it is still there.
public sealed partial class WebSocketSession
{
    private IDisposable? _keepAlive;

    /// <summary>
    /// Checks again when <paramref name="due"/> has passed. Any input counts as life (a pong, a message, a ping), so a
    /// busy session never pings; a quiet one pings once per interval and gives the peer <see cref="WebSocketOptions.PongTimeout"/>
    /// to send anything at all. On the session's scheduler, so virtual time drives it.
    /// </summary>
    private void ArmKeepAlive(TimeSpan due) =>
        _keepAlive = Scheduler.Schedule(this, due, static (_, s) =>
        {
            s.OnKeepAliveTimer();
            return Disposable.Empty;
        });

    private void OnKeepAliveTimer()
    {
        if (!IsOpen) return;
        var interval = _wsSettings.PingInterval!.Value;
        var quiet = Scheduler.Now - LastActivity;
        if (quiet < interval)
        {
            ArmKeepAlive(interval - quiet);
            return;
        }
        var pingedAt = Scheduler.Now;
        _ = PingAsync();
        _keepAlive = Scheduler.Schedule((Session: this, PingedAt: pingedAt), _wsSettings.PongTimeout, static (_, st) =>
        {
            var s = st.Session;
            if (!s.IsOpen) return Disposable.Empty;
            if (s.LastActivity < st.PingedAt)
            {
                s.Shutdown(new CloseReason(CloseKind.KeepAliveTimeout, null,
                    $"nothing received within {s._wsSettings.PongTimeout.TotalMilliseconds:0} ms of a ping"), graceful: false);
                return Disposable.Empty;
            }
            s.ArmKeepAlive(s._wsSettings.PingInterval!.Value - (s.Scheduler.Now - s.LastActivity));
            return Disposable.Empty;
        });
    }

    private async Task PingAsync()
    {
        try
        {
            await _wire.SendPingAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (IsOpen) Asio2Log.WebSocketPingFailed(Logger, ex, this);
            Shutdown(ClassifyError(ex) with { Code = 1006 }, graceful: false);
        }
    }
}
