using System.Buffers;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// A stream whose writes can be gathered: between <see cref="Cork"/> and <see cref="UncorkAsync"/> they are copied into
/// one buffer and reach the socket as one write. A connection whose send queue holds several frames sends them with
/// one system call instead of one each, and its client reads them with one too; that per-frame system call is what
/// a busy node's sends cost most. Uncorked, writes go straight through.
/// </summary>
/// <remarks>
/// The WebSocket on top serializes its own writes (frames, and the pongs and close frames it sends by itself), so
/// the only writer that can overlap them is <see cref="UncorkAsync"/>'s flush: writes that arrive during a flush stay
/// corked and go out with the next round of it, in order.
/// </remarks>
internal sealed class CorkingStream(Stream inner) : Stream
{
    private const int FirstBufferSize = 4 * 1024;

    private readonly Lock _lock = new();
    private byte[]? _buffer;
    private int _length;
    private bool _corked;

    /// <summary>From now on writes are gathered until <see cref="UncorkAsync"/>.</summary>
    public void Cork()
    {
        lock (_lock)
        {
            _corked = true;
        }
    }

    /// <summary>Writes what was gathered, as one write, and lets later writes through again.</summary>
    public async ValueTask UncorkAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            byte[] buffer;
            int length;
            lock (_lock)
            {
                if (_length == 0)
                {
                    _corked = false;
                    ReturnBuffer();
                    return;
                }
                buffer = _buffer!;
                length = _length;
                _buffer = null;
                _length = 0;
            }
            try
            {
                await inner.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        TryGather(buffer.Span) ? ValueTask.CompletedTask : inner.WriteAsync(buffer, cancellationToken);

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!TryGather(buffer))
        {
            inner.Write(buffer);
        }
    }

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        IsCorked ? Task.CompletedTask : inner.FlushAsync(cancellationToken);

    /// <inheritdoc/>
    public override void Flush()
    {
        if (!IsCorked)
        {
            inner.Flush();
        }
    }

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    /// <inheritdoc/>
    public override bool CanRead => inner.CanRead;

    /// <inheritdoc/>
    public override bool CanWrite => inner.CanWrite;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_lock)
            {
                ReturnBuffer();
            }
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            ReturnBuffer();
        }
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private bool IsCorked
    {
        get
        {
            lock (_lock)
            {
                return _corked;
            }
        }
    }

    private bool TryGather(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (!_corked)
            {
                return false;
            }
            if (_buffer is null || _buffer.Length - _length < data.Length)
            {
                var grown = ArrayPool<byte>.Shared.Rent(Math.Max(FirstBufferSize, (_length + data.Length) * 2));
                if (_buffer is not null)
                {
                    _buffer.AsSpan(0, _length).CopyTo(grown);
                    ArrayPool<byte>.Shared.Return(_buffer);
                }
                _buffer = grown;
            }
            data.CopyTo(_buffer.AsSpan(_length));
            _length += data.Length;
            return true;
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _length = 0;
        }
    }
}
