using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Http;

namespace Asio2.Rx.Tests.Http;

/// <summary>HTTP instruments on the Asio2.Rx meter: request durations by status and route, active requests, refusals by reason; and forms.</summary>
public sealed class HttpMetricsTests
{
    [Fact]
    public async Task Requests_AreRecordedByStatusAndRoute_AndRefusalsByReason()
    {
        var counted = new ConcurrentBag<(string Name, long Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == "Asio2.Rx" && (i.Name.StartsWith("asio2rx.http.") || i.Name.StartsWith("http.server."))) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
            counted.Add((i.Name, v, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) =>
            counted.Add((i.Name, 1, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.Start();

        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/ok", _ => "ok"));
        using var client = new System.Net.Http.HttpClient();
        await client.GetAsync(server.Url + "/ok");
        await client.GetAsync(server.Url + "/missing");
        await HttpKit.Exchange(server.EndPoint, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
        await server.DisposeAsync();

        // Other tests run in parallel on the same meter: look for this server's port-independent signs only.
        Assert.Contains(counted, c => c.Name == "http.server.request.duration" && c.Tags.Contains("http.response.status_code=200") && c.Tags.Contains("http.route=/ok"));
        Assert.Contains(counted, c => c.Name == "http.server.request.duration" && c.Tags.Contains("http.response.status_code=404") && !c.Tags.Contains("http.route"));
        Assert.Contains(counted, c => c.Name == "http.server.active_requests" && c.Value == 1 && c.Tags.Contains("http.request.method=GET"));
        Assert.Contains(counted, c => c.Name == "http.server.active_requests" && c.Value == -1 && c.Tags.Contains("http.request.method=GET"));
        Assert.Contains(counted, c => c.Name == "asio2rx.http.rejected" && c.Tags.Contains("asio2rx.http.rejection=InvalidHost"));
    }

    [Fact]
    public async Task UrlEncodedForm_IsDecoded()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("POST", "/form", async ctx =>
        {
            var form = await ctx.Request.ReadFormAsync();
            return $"{form["name"]}|{form["note"]}";
        }));
        using var client = new System.Net.Http.HttpClient();
        var response = await client.PostAsync(server.Url + "/form", new FormUrlEncodedContent([new("name", "a b"), new("note", "é&=")]));
        Assert.Equal("a b|é&=", await response.Content.ReadAsStringAsync());
    }
}
