using System.Diagnostics.Metrics;
using System.Reactive.Linq;
using System.Text;

namespace Asio2.Rx.Tests.Secure;

[CollectionDefinition(nameof(TlsMetricsTests), DisableParallelization = true)]
public class TlsMetricsCollection;

/// <summary>Runs alone: the meter is process-wide, and other TLS tests fail handshakes on purpose.</summary>
[Collection(nameof(TlsMetricsTests))]
public class TlsMetricsTests
{
    [Fact]
    public async Task EveryFailedHandshake_IsCountedOnce_AsATlsHandshakeError()
    {
        long failures = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Asio2.Rx" && instrument.Name == "asio2rx.error") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? transport = null, kind = null;
            foreach (var t in tags)
            {
                if (t.Key == "asio2rx.transport") transport = t.Value as string;
                if (t.Key == "error.type") kind = t.Value as string;
            }
            if (transport == "tls" && kind == "handshake") Interlocked.Add(ref failures, value);
        });
        listener.Start();

        var tls = TlsKit.ServerOptions();
        // Long enough for the good client's handshake when it is the first in the process (TLS code still being jitted)
        // on a loaded machine; 300 ms was not.
        tls.HandshakeTimeout = TimeSpan.FromSeconds(5);
        await using var server = new TlsEchoServer(tls);
        using (var plaintext = await Wait.ConnectRaw(server.EndPoint))
        {
            await plaintext.SendAsync(Encoding.ASCII.GetBytes("plaintext\n"));
            await server.Closes.Take(1).LastAsync().Timeout(Wait.Long);
        }
        using (var silent = await Wait.ConnectRaw(server.EndPoint))
        {
            await server.Closes.Take(2).LastAsync().Timeout(Wait.Long);
        }
        await using (var good = TlsKit.Client(TlsKit.ClientOptions()))
        {
            await TlsKit.EchoOnce(good, server.Port, "fine");
        }

        Assert.Equal(2, Interlocked.Read(ref failures));
    }
}
