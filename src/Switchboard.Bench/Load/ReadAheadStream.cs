using System.Buffers;
using Switchboard.Protocol.Transport;

namespace Switchboard.Bench.Load;

/// <summary>
/// Reads a connection in large chunks and hands them out in the small pieces .NET's WebSocket asks for (a frame's
/// header, then its payload). Without it every frame costs the load generator one or two socket reads, and in a
/// fanout those reads, not the system under test, bound the figure. Writes take turns: the bench writes its own
/// message frames (<see cref="MaskedFrame"/>) on the stream the WebSocket also writes its replies (pong, close) on, and
/// each write is one whole frame.
/// </summary>
/// <remarks>
/// A connection that waits for data holds no buffer: it waits with a zero-byte read, and the chunk it then reads is
/// rented from the pool and returned as soon as it has been handed out, so 100,000 idle clients cost nothing extra.
/// Reads are not concurrent (one WebSocket reads at a time).
/// </remarks>
internal sealed class ReadAheadStream(Stream inner) : ReadLayerStream(inner)
{
    private const int ChunkSize = 16 * 1024;

    private readonly SemaphoreSlim _writing = new(1, 1);
    private byte[]? _chunk;
    private int _offset;
    private int _length;

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return _length > 0 ? 0 : await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        if (_length == 0)
        {
            if (buffer.Length >= ChunkSize)
            {
                return await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            // Wait without a buffer; the read after it finds the data already there and does not wait.
            await Inner.ReadAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            int read;
            try
            {
                read = await Inner.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(chunk);
                throw;
            }
            if (read == 0)
            {
                ArrayPool<byte>.Shared.Return(chunk);
                return 0;
            }
            _chunk = chunk;
            _offset = 0;
            _length = read;
        }
        var n = Math.Min(buffer.Length, _length);
        _chunk.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        _length -= n;
        if (_length == 0)
        {
            ArrayPool<byte>.Shared.Return(_chunk!);
            _chunk = null;
        }
        return n;
    }

    /// <inheritdoc/>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
}
