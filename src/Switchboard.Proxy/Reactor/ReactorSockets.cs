using System.Net;
using System.Net.Sockets;
using Switchboard.Reactor;

namespace Switchboard.Proxy.Reactor;

/// <summary>Receive, send and connect for sockets served by a <see cref="SocketReactor"/>: a non-blocking call, and a wait when it would block.</summary>
internal static class ReactorSockets
{
    /// <summary>Receives into <paramref name="buffer"/>: the bytes read, 0 when the peer closed.</summary>
    /// <exception cref="SocketException">The connection failed.</exception>
    public static async ValueTask<int> ReceiveAsync(this SocketReactor reactor, Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = Native.Receive(socket.SafeHandle, buffer.Span, out var errno);
            if (read >= 0)
            {
                return read;
            }
            if (errno != Native.EAgain)
            {
                throw Native.ToException(errno);
            }
            await reactor.WaitAsync(socket, writable: false, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends all of <paramref name="buffer"/>.</summary>
    /// <exception cref="SocketException">The connection failed.</exception>
    public static async ValueTask SendAsync(this SocketReactor reactor, Socket socket, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var sent = Native.Send(socket.SafeHandle, buffer.Span, out var errno);
            if (sent >= 0)
            {
                buffer = buffer[sent..];
                continue;
            }
            if (errno != Native.EAgain)
            {
                throw Native.ToException(errno);
            }
            await reactor.WaitAsync(socket, writable: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Connects <paramref name="socket"/> (made non-blocking here) to <paramref name="remote"/>.</summary>
    /// <exception cref="SocketException">The connection was refused or failed.</exception>
    public static async ValueTask ConnectAsync(this SocketReactor reactor, Socket socket, IPEndPoint remote, CancellationToken cancellationToken)
    {
        socket.Blocking = false;
        try
        {
            socket.Connect(remote);
            return;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            // Under way: the socket turns writable when it is done, one way or the other.
        }
        await reactor.WaitAsync(socket, writable: true, cancellationToken).ConfigureAwait(false);
        if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error and not 0)
        {
            throw new SocketException(error);
        }
    }
}
