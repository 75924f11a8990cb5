namespace Asio2.Rx.Samples;

/// <summary>One stop of the tour; found by reflection, run in <see cref="Order"/>.</summary>
internal interface ISample
{
    /// <summary>The name given on the command line.</summary>
    string Name { get; }

    /// <summary>One line saying what it shows.</summary>
    string Description { get; }

    /// <summary>Position in the tour (TCP 10, TLS 20, UDP 30, KCP 40, ICMP 50, serial 60, rate limit 70, timers 80, HTTP 85, RPC 90, WebSocket 95, telemetry 120).</summary>
    int Order { get; }

    /// <summary>Runs the sample on loopback and returns when it is done.</summary>
    Task RunAsync(string[] args);
}
