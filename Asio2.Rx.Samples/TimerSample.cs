using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>asio2's start_timer/stop_timer: session-bound timers that end with their session, and standalone timers as plain Rx.</summary>
internal sealed class TimerSample : ISample
{
    public string Name => "timers";
    public string Description => "a heartbeat timer bound to each session; a standalone timer started and stopped";
    public int Order => 80;

    public async Task RunAsync(string[] args)
    {
        // Session-bound: a heartbeat every 200 ms on the session's own scheduler, ending when the session does.
        await using var server = new TcpServer(new TcpServerOptions { Framing = Framing.Delimiter('\n') });
        var timerEnded = new TaskCompletionSource();
        server.Sessions.Subscribe(session =>
            session.Every(TimeSpan.FromMilliseconds(200)).Subscribe(
                i => session.Send($"heartbeat {i}\n"),
                () =>
                {
                    Console.WriteLine($"server: session {session.Id} closed ({session.CloseReason?.Kind}); its heartbeat timer ended with it");
                    timerEnded.TrySetResult();
                }));
        var bound = server.Start("127.0.0.1", 0);

        await using var client = new TcpClient(new TcpClientOptions { Framing = Framing.Delimiter('\n'), Reconnect = { Enabled = false } });
        var beats = client.Frames.Select(f => f.Text).Do(t => Console.WriteLine($"client: {t}")).Take(3).ToList().ToTask(); // subscribe now: Frames is hot
        var session = await client.Connect("127.0.0.1", bound.Port).Timeout(TimeSpan.FromSeconds(5));
        await beats.WaitAsync(TimeSpan.FromSeconds(5));
        session.Close();
        await timerEnded.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // Standalone: plain Rx. start_timer(id, 100ms, cb) is Subscribe on an Interval; stop_timer(id) is Dispose.
        int ticks = 0;
        var allTicked = new TaskCompletionSource();
        var timer = Observable.Interval(TimeSpan.FromMilliseconds(100)).Subscribe(i =>
        {
            Console.WriteLine($"standalone timer: tick {i}");
            if (Interlocked.Increment(ref ticks) == 3) allTicked.TrySetResult();
        });
        await allTicked.Task.WaitAsync(TimeSpan.FromSeconds(5));
        timer.Dispose(); // stop_timer
        Console.WriteLine("standalone timer: stopped after 3 ticks");
    }
}
