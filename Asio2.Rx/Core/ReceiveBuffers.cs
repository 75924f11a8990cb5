using System.Buffers;
using System.Numerics;

namespace Asio2.Rx;

/// <summary>
/// Receive buffers for stream sessions, which rent one when data arrives and return it when everything read was
/// framed (an idle session holds none). Each scheduler thread keeps a few returned buffers for the next session it
/// serves: a busy loop rents and returns at every wait, and the shared pool alone drops enough of them to make
/// garbage. Buffers of any other size, or beyond the cache, go to <see cref="ArrayPool{T}.Shared"/>.
/// </summary>
internal static class ReceiveBuffers
{
    private const int CachedPerThread = 32;

    [ThreadStatic] private static Stack<byte[]>? t_cache;

    public static byte[] Rent(int size)
    {
        if (t_cache is { Count: > 0 } cache && cache.Peek().Length == ArraySize(size)) return cache.Pop();
        return ArrayPool<byte>.Shared.Rent(size);
    }

    public static void Return(byte[] buffer)
    {
        var cache = t_cache ??= new Stack<byte[]>(CachedPerThread);
        if (cache.Count < CachedPerThread && (cache.Count == 0 || cache.Peek().Length == buffer.Length)) cache.Push(buffer);
        else ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>The length <see cref="ArrayPool{T}.Shared"/> gives for a request of <paramref name="size"/> (a power of two from 16).</summary>
    private static int ArraySize(int size) => size <= 16 ? 16 : (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)size), int.MaxValue);
}
