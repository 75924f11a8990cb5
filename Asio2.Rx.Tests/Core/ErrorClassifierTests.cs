using System.Net;
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
    [InlineData(SocketError.OperationAborted, CloseKind.LocalAbort)]
    [InlineData(SocketError.Interrupted, CloseKind.LocalAbort)]
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

    [Fact]
    public void ADisposeOrCancelHere_WrappedOnceOrTwice_IsALocalAbort()
    {
        // NetworkStream and SslStream wrap whatever the socket throws, ObjectDisposedException included.
        var disposed = new ObjectDisposedException("System.Net.Sockets.Socket");
        var canceled = new OperationCanceledException();

        Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(new IOException("Unable to read data from the transport connection.", disposed)).Kind);
        Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(new IOException("outer", new IOException("inner", disposed))).Kind);
        Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(new IOException("outer", canceled)).Kind);
        Assert.Same(disposed, ErrorClassifier.Classify(new IOException("outer", disposed)).Exception);
        // Other causes inside an IOException stay the IOException's: its message says more than theirs.
        var other = new IOException("decrypt failed", new InvalidOperationException("inner"));
        Assert.Equal((CloseKind.Error, (Exception?)other), (ErrorClassifier.Classify(other).Kind, ErrorClassifier.Classify(other).Exception));
    }

    [Fact]
    public async Task ASocketDisposedHere_IsALocalAbort_AsThePlatformReportsIt()
    {
        // The exceptions .NET really throws when this side disposes a connected socket: read and write through a
        // NetworkStream afterwards, and a read through it or the socket that was pending at the time.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var failures = new List<Exception>();
        foreach (Func<Socket, NetworkStream, Task> use in new Func<Socket, NetworkStream, Task>[]
        {
            async (socket, stream) => { socket.Dispose(); _ = await stream.ReadAsync(new byte[1].AsMemory()); },
            async (socket, stream) => { socket.Dispose(); await stream.WriteAsync(new byte[1]); },
            async (socket, stream) => { var read = stream.ReadAsync(new byte[1].AsMemory()).AsTask(); socket.Dispose(); _ = await read; },
            async (socket, stream) => { var read = socket.ReceiveAsync(new byte[1].AsMemory(), SocketFlags.None).AsTask(); socket.Dispose(); _ = await read; },
        })
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Wait.Long);
            using var accepted = await listener.AcceptAsync().WaitAsync(Wait.Long);
            using var stream = new NetworkStream(socket, ownsSocket: false);
            failures.Add(await Assert.ThrowsAnyAsync<Exception>(() => use(socket, stream).WaitAsync(Wait.Long)));
        }

        Assert.All(failures, e => Assert.Equal(CloseKind.LocalAbort, ErrorClassifier.Classify(e).Kind));
    }
}
