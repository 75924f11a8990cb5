using System.Net.Sockets;
using System.Security.Authentication;

namespace Asio2.Rx.Tests.Core;

/// <summary>Transport errors become close reasons by their socket error code (looked up through the IOExceptions that
/// NetworkStream and SslStream wrap them in), never by their message text, which is localized and varies by platform.</summary>
public class ErrorClassifierTests
{
    [Theory]
    [InlineData(SocketError.ConnectionReset, CloseKind.Reset)]
    [InlineData(SocketError.ConnectionAborted, CloseKind.Reset)]
    [InlineData(SocketError.Shutdown, CloseKind.Reset)]
    [InlineData(SocketError.NetworkReset, CloseKind.Reset)]
    [InlineData(SocketError.HostUnreachable, CloseKind.Reset)]
    [InlineData(SocketError.NetworkUnreachable, CloseKind.Reset)]
    [InlineData(SocketError.NotConnected, CloseKind.Reset)]
    [InlineData(SocketError.TimedOut, CloseKind.Reset)]
    [InlineData(SocketError.AccessDenied, CloseKind.Error)]
    [InlineData(SocketError.NoBufferSpaceAvailable, CloseKind.Error)]
    [InlineData(SocketError.InvalidArgument, CloseKind.Error)]
    public void SocketErrors_AreSortedByCode_BareOrWrappedOnceOrTwice(SocketError code, CloseKind expected)
    {
        var socket = new SocketException((int)code);

        Assert.Equal(expected, ErrorClassifier.Classify(socket).Kind);
        Assert.Equal(expected, ErrorClassifier.Classify(new IOException("Unable to read data from the transport connection.", socket)).Kind);
        Assert.Equal(expected, ErrorClassifier.Classify(new IOException("outer", new IOException("inner", socket))).Kind);
        Assert.Same(socket, ErrorClassifier.Classify(new IOException("outer", socket)).Exception);
    }

    [Fact]
    public void TheMessageText_DecidesNothing()
    {
        // A reset whose text does not say so (a localized message), and errors whose text says "reset" but are not.
        Assert.Equal(CloseKind.Reset, ErrorClassifier.Classify(new SocketException((int)SocketError.ConnectionReset, "Verbindung vom Peer zurückgesetzt")).Kind);
        Assert.Equal(CloseKind.Error, ErrorClassifier.Classify(new SocketException((int)SocketError.AccessDenied, "Connection reset by peer")).Kind);
        Assert.Equal(CloseKind.Error, ErrorClassifier.Classify(new IOException("Connection reset by peer")).Kind);
    }

    [Fact]
    public void OtherFailures_HaveTheirOwnKinds()
    {
        Assert.Equal(CloseKind.Reset, ErrorClassifier.Classify(new ConnectionResetException("the pipe's other end aborted")).Kind);
        Assert.Equal(CloseKind.HandshakeFailed, ErrorClassifier.Classify(new AuthenticationException("bad certificate")).Kind);
        Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(new ObjectDisposedException("socket")).Kind);
        Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(new OperationCanceledException()).Kind);
        Assert.Equal(CloseKind.Error, ErrorClassifier.Classify(new InvalidOperationException("a bug")).Kind);
    }
}
