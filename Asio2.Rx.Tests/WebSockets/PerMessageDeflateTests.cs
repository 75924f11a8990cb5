namespace Asio2.Rx.Tests.WebSockets;

/// <summary>RFC 7692 §7 negotiation: window bits and context takeover, both sides.</summary>
public class PerMessageDeflateTests
{
    private static NegotiatedDeflate? Accept(string offer, WebSocketCompressionOptions? ours = null) =>
        PerMessageDeflate.Accept([offer], ours ?? new WebSocketCompressionOptions());

    [Fact]
    public void PlainOffer_IsAcceptedWithDefaults()
    {
        var d = Accept("permessage-deflate")!;
        Assert.Equal("permessage-deflate", d.ResponseHeader);
        Assert.Equal((15, true, 15, true), (d.Options.ServerMaxWindowBits, d.Options.ServerContextTakeover, d.Options.ClientMaxWindowBits, d.Options.ClientContextTakeover));
    }

    [Fact]
    public void BrowserOffer_ClientMaxWindowBitsWithoutValue_IsAcceptedWithoutLimitingTheClient()
    {
        var d = Accept("permessage-deflate; client_max_window_bits")!;
        Assert.Equal("permessage-deflate", d.ResponseHeader);
        Assert.Equal(15, d.Options.ClientMaxWindowBits);
    }

    [Fact]
    public void ServerMaxWindowBits_IsHonouredAndAnswered()
    {
        var d = Accept("permessage-deflate; server_max_window_bits=10")!;
        Assert.Equal("permessage-deflate; server_max_window_bits=10", d.ResponseHeader);
        Assert.Equal(10, d.Options.ServerMaxWindowBits);
    }

    [Fact]
    public void ServerMaxWindowBits8_IsDeclined_AndTheNextOfferTaken()
    {
        Assert.Null(Accept("permessage-deflate; server_max_window_bits=8"));
        var d = PerMessageDeflate.Accept(["permessage-deflate; server_max_window_bits=8, permessage-deflate"], new WebSocketCompressionOptions())!;
        Assert.Equal("permessage-deflate", d.ResponseHeader);
    }

    [Fact]
    public void ServerWindowLimit_OfOurOwn_IsAnnounced()
    {
        var d = Accept("permessage-deflate", new WebSocketCompressionOptions { ServerMaxWindowBits = 12 })!;
        Assert.Equal("permessage-deflate; server_max_window_bits=12", d.ResponseHeader);
        Assert.Equal(12, d.Options.ServerMaxWindowBits);
    }

    [Fact]
    public void ClientWindowLimit_OnlyWhenTheClientAllowsIt()
    {
        var ours = new WebSocketCompressionOptions { ClientMaxWindowBits = 11 };
        Assert.Equal("permessage-deflate; client_max_window_bits=11", Accept("permessage-deflate; client_max_window_bits", ours)!.ResponseHeader);
        Assert.Equal("permessage-deflate; client_max_window_bits=9", Accept("permessage-deflate; client_max_window_bits=9", ours)!.ResponseHeader);
        var notAllowed = Accept("permessage-deflate", ours)!;
        Assert.Equal("permessage-deflate", notAllowed.ResponseHeader);
        Assert.Equal(15, notAllowed.Options.ClientMaxWindowBits);
    }

    [Fact]
    public void NoContextTakeover_BothDirections()
    {
        var d = Accept("permessage-deflate; server_no_context_takeover; client_no_context_takeover")!;
        Assert.Equal("permessage-deflate; server_no_context_takeover; client_no_context_takeover", d.ResponseHeader);
        Assert.False(d.Options.ServerContextTakeover);
        Assert.False(d.Options.ClientContextTakeover);
        var ours = Accept("permessage-deflate", new WebSocketCompressionOptions { ServerContextTakeover = false })!;
        Assert.Equal("permessage-deflate; server_no_context_takeover", ours.ResponseHeader);
    }

    [Theory]
    [InlineData("permessage-deflate; server_max_window_bits")]         // needs a value
    [InlineData("permessage-deflate; server_max_window_bits=16")]
    [InlineData("permessage-deflate; server_max_window_bits=010")]
    [InlineData("permessage-deflate; client_max_window_bits=7")]
    [InlineData("permessage-deflate; server_no_context_takeover=1")]
    [InlineData("permessage-deflate; server_no_context_takeover; server_no_context_takeover")]
    [InlineData("permessage-deflate; unknown_param")]
    [InlineData("x-webkit-deflate-frame")]
    public void InvalidOrForeignOffer_IsDeclined(string offer) => Assert.Null(Accept(offer));

    [Fact]
    public void QuotedValue_IsAccepted() =>
        Assert.Equal(10, Accept("permessage-deflate; server_max_window_bits=\"10\"")!.Options.ServerMaxWindowBits);

    [Fact]
    public void ClientOffer_StatesItsOwnSettings() =>
        Assert.Equal("permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; server_no_context_takeover; client_no_context_takeover",
            PerMessageDeflate.CreateOffer(new WebSocketCompressionOptions { ClientMaxWindowBits = 10, ServerMaxWindowBits = 12, ServerContextTakeover = false, ClientContextTakeover = false }));

    [Fact]
    public void ClientCheck_AppliesTheServersAnswer()
    {
        var d = PerMessageDeflate.CheckResponse(["permessage-deflate; client_max_window_bits=10; server_no_context_takeover"], new WebSocketCompressionOptions(), out var failure)!;
        Assert.Null(failure);
        Assert.Equal(10, d.Options.ClientMaxWindowBits);
        Assert.False(d.Options.ServerContextTakeover);
    }

    [Theory]
    [InlineData("permessage-deflate; client_max_window_bits")]            // a response needs a value
    [InlineData("permessage-deflate; bogus")]
    [InlineData("permessage-deflate, permessage-deflate")]
    [InlineData("permessage-deflate; client_max_window_bits=8")]           // zlib cannot
    public void ClientCheck_RefusesAnInvalidAnswer(string answer) =>
        Assert.Null(PerMessageDeflate.CheckResponse([answer], new WebSocketCompressionOptions(), out _));

    [Fact]
    public void ClientCheck_RefusesAServerThatIgnoredOurLimits()
    {
        Assert.Null(PerMessageDeflate.CheckResponse(["permessage-deflate"], new WebSocketCompressionOptions { ServerMaxWindowBits = 10 }, out _));
        Assert.Null(PerMessageDeflate.CheckResponse(["permessage-deflate; server_max_window_bits=12"], new WebSocketCompressionOptions { ServerMaxWindowBits = 10 }, out _));
        Assert.Null(PerMessageDeflate.CheckResponse(["permessage-deflate"], new WebSocketCompressionOptions { ServerContextTakeover = false }, out _));
    }
}
