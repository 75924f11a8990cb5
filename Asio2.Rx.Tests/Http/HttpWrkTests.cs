namespace Asio2.Rx.Tests.Http;

/// <summary>wrk, a load generator nobody here wrote: a short run with keep-alive connections must see no socket
/// errors and no non-2xx responses.</summary>
public sealed class HttpWrkTests
{
    [PeerFact("wrk")]
    public async Task ShortRun_HasNoSocketErrors_AndOnly2xx()
    {
        await using var server = new TestHttpServer(routes: s => s.Map("GET", "/plaintext", _ => "Hello, World!"));
        var r = await PeerProcess.Run("wrk", ["-t1", "-c16", "-d2s", "--timeout", "10s", server.Url + "/plaintext"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Requests/sec", r.Text);
        Assert.DoesNotContain("Socket errors", r.Text);
        Assert.DoesNotContain("Non-2xx", r.Text);
        Assert.Matches(@"\d+ requests in", r.Text);
    }
}
