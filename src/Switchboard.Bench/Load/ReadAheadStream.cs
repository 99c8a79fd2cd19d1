using System.Buffers;

namespace Switchboard.Bench.Load;

/// <summary>
/// Reads a connection in large chunks and hands them out in the small pieces .NET's WebSocket asks for (a frame's
/// header, then its payload). Without it every frame costs the load generator one or two socket reads, and in a
/// fanout those reads, not the system under test, bound the figure. Writes go straight through.
/// </summary>
/// <remarks>
/// A connection that waits for data holds no buffer: it waits with a zero-byte read, and the chunk it then reads is
/// rented from the pool and returned as soon as it has been handed out, so 100,000 idle clients cost nothing extra.
/// Reads are not concurrent (one WebSocket reads at a time).
/// </remarks>
internal sealed class ReadAheadStream(Stream inner) : Stream
{
    private const int ChunkSize = 16 * 1024;

    private byte[]? _chunk;
    private int _offset;
    private int _length;

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => true;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return _length > 0 ? 0 : await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        if (_length == 0)
        {
            if (buffer.Length >= ChunkSize)
            {
                return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            // Wait without a buffer; the read after it finds the data already there and does not wait.
            await inner.ReadAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            int read;
            try
            {
                read = await inner.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
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
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    /// <inheritdoc/>
    public override void Flush() => inner.Flush();

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
