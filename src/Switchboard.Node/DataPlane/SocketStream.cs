using System.Net.Sockets;
using Switchboard.Reactor;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// An accepted socket as the stream its WebSocket runs over. A write first offers its bytes to the socket without
/// waiting, which takes a whole frame unless the client's receive window is full; only what the socket cannot take at
/// once waits. <see cref="NetworkStream"/> sends every write asynchronously, so the socket creates and keeps its send
/// state (~0.36 KB) with a connection's very first write, the handshake's answer: here an idle connection that never
/// filled its window holds none.
/// <para>
/// With the node's reactor (<see cref="NodeOptions.SocketReactor"/>), sends and receives are the reactor's non-blocking
/// calls and whatever has to wait waits on the reactor (<see cref="ReactorWaits"/>), so the socket never creates .NET's
/// per-socket async state at all. Without it, reads are the socket's own asynchronous receives, as in <see
/// cref="NetworkStream"/>, and a send that has to wait is the socket's asynchronous send.
/// </para>
/// </summary>
internal sealed class SocketStream : Stream
{
    private readonly Socket _socket;
    private readonly ReactorWaits? _waits;

    /// <summary>
    /// Wraps <paramref name="socket"/>, which it owns from now on; with <paramref name="reactor"/>, its waits are the
    /// reactor's and its ready receives are finished by <paramref name="dispatcher"/>.
    /// </summary>
    public SocketStream(Socket socket, SocketReactor? reactor = null, ReceiveDispatcher? dispatcher = null)
    {
        _socket = socket;
        _waits = reactor is null ? null : ReactorWaits.Start(socket, reactor, dispatcher ?? new ReceiveDispatcher());
        if (_waits is null)
        {
            // Synchronous sends then try once and report WouldBlock instead of waiting; asynchronous receives and
            // sends behave as before. (On Linux this creates the socket's async context, which the reactor's own
            // non-blocking calls do without.)
            socket.Blocking = false;
        }
    }

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
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _waits is not null ? _waits.ReceiveAsync(buffer, cancellationToken) : _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var sent = 0;
        try
        {
            while (sent < buffer.Length)
            {
                var error = TrySend(buffer.Span[sent..], out var count);
                if (error == SocketError.WouldBlock)
                {
                    return SendRestAsync(buffer[sent..], cancellationToken);
                }
                if (error != SocketError.Success)
                {
                    return ValueTask.FromException(new IOException($"Unable to write data to the transport connection: {error}.", new SocketException((int)error)));
                }
                sent += count;
            }
        }
        catch (ObjectDisposedException e)
        {
            return ValueTask.FromException(e);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>A send that does not wait: what the socket took, or WouldBlock when it took nothing.</summary>
    private SocketError TrySend(ReadOnlySpan<byte> bytes, out int count)
    {
        if (_waits is null)
        {
            count = _socket.Send(bytes, SocketFlags.None, out var error);
            return error;
        }
        count = _waits.TrySend(bytes, out var errno);
        return count >= 0 ? SocketError.Success : errno == Native.EAgain ? SocketError.WouldBlock : Native.ToException(errno).SocketErrorCode;
    }

    private async ValueTask SendRestAsync(ReadOnlyMemory<byte> rest, CancellationToken cancellationToken)
    {
        if (_waits is null)
        {
            while (!rest.IsEmpty)
            {
                rest = rest[await _socket.SendAsync(rest, SocketFlags.None, cancellationToken).ConfigureAwait(false)..];
            }
            return;
        }
        while (!rest.IsEmpty)
        {
            await _waits.WritableAsync(cancellationToken).ConfigureAwait(false);
            var error = TrySend(rest.Span, out var count);
            if (error == SocketError.Success)
            {
                rest = rest[count..];
            }
            else if (error != SocketError.WouldBlock)
            {
                throw new IOException($"Unable to write data to the transport connection: {error}.", new SocketException((int)error));
            }
        }
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public override void Flush()
    {
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
            try
            {
                // As NetworkStream does: the peer sees the connection end even if a receive is still pending.
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already reset or closed: nothing left to shut down.
            }
            // Before the socket goes: a pending receive reads the end of stream the shutdown left.
            _waits?.Close();
            _socket.Dispose();
        }
        base.Dispose(disposing);
    }
}
