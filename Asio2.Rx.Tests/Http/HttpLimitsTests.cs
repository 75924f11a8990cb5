using System.Net.Sockets;
using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Asio2.Rx.Tests.Http;

/// <summary>Each limit crossed: sizes over raw sockets, timeouts in virtual time over an in-memory pair (the same
/// connection code, with the session's scheduler a <see cref="TestScheduler"/>).</summary>
public sealed class HttpLimitsTests
{
    private sealed class Rig
    {
        public readonly TestScheduler Scheduler = new();
        public readonly HttpServer Server;
        public readonly InMemoryPair Pair;
        public readonly StringBuilder Received = new();
        public CloseReason? ServerClosed;
        public int Calls;

        public Rig(Action<HttpLimits>? limits = null, Action<HttpServer>? routes = null)
        {
            // The scheduler runs on the test thread: without xunit's context there, an awaiting handler resumes inline
            // as it does on an event loop, instead of being posted to a context this synchronous test never pumps.
            SynchronizationContext.SetSynchronizationContext(null);
            var options = new HttpServerOptions { Schedulers = new SchedulerPool(Scheduler) };
            limits?.Invoke(options.Limits);
            Server = new HttpServer(options);
            Server.Requests.Subscribe(_ => Calls++);
            if (routes is null) Server.Map("GET,POST", "*", async ctx => (await ctx.Request.Body.ReadAllAsync()).Length.ToString());
            else routes(Server);
            Pair = InMemory.CreatePair(
                new SessionOptions { Schedulers = new SchedulerPool(Scheduler) },
                new SessionOptions { Framing = new HttpFraming(options.Limits), Schedulers = new SchedulerPool(Scheduler) });
            Server.Attach(Pair.B);
            Pair.A.Frames.Subscribe(f => Received.Append(Encoding.Latin1.GetString(f.Span)));
            Pair.B.Closed.Subscribe(r => ServerClosed = r);
            Pair.Start();
            Scheduler.AdvanceBy(1);
        }

        public void Send(string text)
        {
            Pair.A.Send(Encoding.Latin1.GetBytes(text));
            Scheduler.AdvanceBy(3); // B's frames, then the reply's frames on A
        }

        public void Advance(double seconds) => Scheduler.AdvanceBy(TimeSpan.FromSeconds(seconds).Ticks);
    }

    [Fact]
    public void RequestHeadersTimeout_Answers408AndCloses_WhenTheHeadIsTooSlow()
    {
        var rig = new Rig();
        rig.Send("GET / HTTP/1.1\r\nHo");
        rig.Advance(29);
        Assert.Null(rig.ServerClosed);
        rig.Advance(3);
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", rig.Received.ToString());
        Assert.NotNull(rig.ServerClosed);
        Assert.Equal(0, rig.Calls);
    }

    [Fact]
    public void KeepAliveTimeout_ClosesAnIdleConnection_Silently()
    {
        var rig = new Rig();
        rig.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK", rig.Received.ToString());
        rig.Advance(129);
        Assert.Null(rig.ServerClosed);
        rig.Advance(2);
        Assert.Equal(CloseKind.LocalClose, rig.ServerClosed?.Kind);
        Assert.Single(HttpKit.Parse(Encoding.Latin1.GetBytes(rig.Received.ToString())));
    }

    [Fact]
    public void KeepAliveTimeout_IsConfigurable_AndAnActiveConnectionSurvivesIt()
    {
        var rig = new Rig(l => l.KeepAliveTimeout = TimeSpan.FromSeconds(10));
        for (int i = 0; i < 5; i++)
        {
            rig.Advance(8);
            rig.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        Assert.Null(rig.ServerClosed);
        rig.Advance(11);
        Assert.NotNull(rig.ServerClosed);
    }

    [Fact]
    public void MinimumBodyDataRate_Answers408_AfterTheGracePeriod()
    {
        var rig = new Rig();
        rig.Send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
        rig.Send(new string('x', 1000));
        rig.Advance(4); // 1000 B in 4 s is above 240 B/s
        Assert.Null(rig.ServerClosed);
        rig.Advance(2); // 1000 B in 6 s is below 240 B/s after the 5 s grace
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", rig.Received.ToString());
        Assert.NotNull(rig.ServerClosed);
    }

    [Fact]
    public void BodyArrivingFastEnough_IsNotCut()
    {
        var rig = new Rig();
        rig.Send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n");
        for (int i = 0; i < 10; i++)
        {
            rig.Send(new string('x', 300));
            rig.Advance(1);
        }
        Assert.EndsWith("\r\n\r\n3000", rig.Received.ToString());
        Assert.Null(rig.ServerClosed);
    }

    [Fact]
    public void BodyLimit_Configured_413ForContentLength_And413ForAChunkedBodyThatGrowsPastIt()
    {
        var rig = new Rig(l => l.MaxRequestBodySize = 10);
        rig.Send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 413 ", rig.Received.ToString());
        Assert.Equal(0, rig.Calls);

        var chunked = new Rig(l => l.MaxRequestBodySize = 10);
        chunked.Send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        chunked.Send("8\r\n12345678\r\n");
        chunked.Send("8\r\n12345678\r\n");
        Assert.StartsWith("HTTP/1.1 413 ", chunked.Received.ToString());
        Assert.NotNull(chunked.ServerClosed);
    }

    [Theory]
    [InlineData(100, 101, 414)]
    [InlineData(100, 99, 200)]
    public void RequestLineLimit_IsConfigurable(int limit, int lineLength, int status)
    {
        var rig = new Rig(l => l.MaxRequestLineSize = limit);
        var target = "/" + new string('a', lineLength - "GET / HTTP/1.1\r\n".Length);
        rig.Send($"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith($"HTTP/1.1 {status} ", rig.Received.ToString());
    }

    [Theory]
    [InlineData(3, 3, 200)]
    [InlineData(3, 4, 431)]
    public void HeaderCountLimit_IsConfigurable(int limit, int fields, int status)
    {
        var rig = new Rig(l => l.MaxRequestHeaderCount = limit);
        rig.Send("GET / HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Range(1, fields - 1).Select(i => $"X-{i}: v\r\n")) + "\r\n");
        Assert.StartsWith($"HTTP/1.1 {status} ", rig.Received.ToString());
    }

    [Theory]
    [InlineData(200, 190, 200)]
    [InlineData(200, 210, 431)]
    public void HeaderSizeLimit_IsConfigurable(int limit, int size, int status)
    {
        var rig = new Rig(l => l.MaxRequestHeadersTotalSize = limit);
        var host = "Host: a\r\n";
        var filler = "X: " + new string('v', size - host.Length - 5) + "\r\n";
        rig.Send("GET / HTTP/1.1\r\n" + host + filler + "\r\n");
        Assert.StartsWith($"HTTP/1.1 {status} ", rig.Received.ToString());
    }

    [Fact]
    public void RequestByteByByte_IsParsedTheSame()
    {
        var rig = new Rig();
        foreach (char c in "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            rig.Send(c.ToString());
        Assert.EndsWith("\r\n\r\n5", rig.Received.ToString());
        Assert.Null(rig.ServerClosed);
    }
}
