namespace Asio2.Rx;

// Read rate limiting (SessionOptions.ReadRateLimit), shared by every session type. The write side lives in the send
// queue. Received bytes spend tokens in OnBytesReceived; how a session waits for more depends on what it can hold back:
// a byte stream reads no more than the tokens it has (StreamSession slices its receive buffer, so the rest stays in
// the kernel and flow control pushes back), a message transport takes a whole message into debt and waits for
// RepayReadDebtAsync before it pulls the next one.
public abstract partial class Session
{
    private readonly TokenBucket? _readLimit;

    /// <summary>The read budget, or null when reading is not limited.</summary>
    private protected TokenBucket? ReadLimit => _readLimit;

    /// <summary>For transports that cannot read less than a message: completes when the debt left by the last
    /// messages is repaid (at once when there is none, or no limit). Don't pull more input meanwhile.</summary>
    private protected ValueTask RepayReadDebtAsync() =>
        _readLimit is { Available: < 0 } limit ? limit.WaitAsync(0) : default;
}
