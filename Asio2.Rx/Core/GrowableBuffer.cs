namespace Asio2.Rx;

/// <summary>A byte buffer that grows by doubling and shrinks back after a burst. Not thread-safe.</summary>
internal sealed class GrowableBuffer
{
    private const int InitialSize = 4096;
    private const int ShrinkAbove = 256 * 1024;
    private byte[] _buffer = [];
    private int _length;

    public int Length => _length;

    public ReadOnlyMemory<byte> WrittenMemory => new(_buffer, 0, _length);

    /// <summary>The array behind <see cref="WrittenMemory"/> (valid up to <see cref="Length"/> until the next write).</summary>
    public byte[] WrittenArray => _buffer;

    public Span<byte> GetSpan(int size)
    {
        if (_buffer.Length - _length < size)
        {
            int newSize = Math.Max(Math.Max(InitialSize, _buffer.Length * 2), _length + size);
            var grown = GC.AllocateUninitializedArray<byte>(newSize);
            _buffer.AsSpan(0, _length).CopyTo(grown);
            _buffer = grown;
        }
        return _buffer.AsSpan(_length, size);
    }

    public void Advance(int count) => _length += count;

    public void Clear()
    {
        // After a burst, drop the big array so an idle session does not keep it.
        if (_buffer.Length > ShrinkAbove && _length < _buffer.Length / 4) _buffer = [];
        _length = 0;
    }
}
