namespace Switchboard.Protocol.Transport;

/// <summary>
/// A connection's stream after its HTTP upgrade head was read: it first yields the bytes that arrived behind the head
/// (a peer may send its first WebSocket frame at once), then reads the rest from <paramref name="inner"/>. Writes go
/// straight through; disposing disposes <paramref name="inner"/>.
/// </summary>
public sealed class PrefixedStream(byte[] prefix, Stream inner) : ReadLayerStream(inner)
{
    private int _offset;

    /// <summary>The bytes after the head, then the connection: what a WebSocket over this connection must read.</summary>
    /// <returns><paramref name="inner"/> itself when nothing came after the head.</returns>
    public static Stream Over(Stream inner, ReadOnlySpan<byte> afterHead) => afterHead.IsEmpty ? inner : new PrefixedStream(afterHead.ToArray(), inner);

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset < prefix.Length)
        {
            if (buffer.Length == 0)
            {
                return 0;
            }
            var n = Math.Min(buffer.Length, prefix.Length - _offset);
            prefix.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }
        return await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }
}
