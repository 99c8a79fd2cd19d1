using System.Buffers;
using System.Net.Sockets;

namespace Switchboard.Proxy.Listening;

/// <summary>How one direction of a relay ended.</summary>
internal enum RelayEnd { Closed, SourceFailed, DestinationFailed, Aborted }

/// <summary>Copies bytes both ways between a client and its backend until either side closes.</summary>
internal static class ByteRelay
{
    private const int BufferSize = 16 * 1024;

    /// <summary>
    /// Relays until one direction ends, then half-closes the other peer and lets the other direction finish for up to
    /// <paramref name="closeGrace"/> (so a WebSocket close handshake completes), then closes both.
    /// Returns true when the backend broke the tunnel first (a reset or error reading from or writing to it before
    /// either side closed), for passive health; a clean close by either side, and a reset that follows one, is not
    /// the backend's fault.
    /// </summary>
    public static async Task<bool> RunAsync(ClientConnection connection, Socket upstream, TimeProvider time, TimeSpan closeGrace, Action<long, long> countBytes)
    {
        var toUpstream = PumpAsync(connection, connection.Client, upstream, toClient: false, time, countBytes);
        var toClient = PumpAsync(connection, upstream, connection.Client, toClient: true, time, countBytes);
        var first = await Task.WhenAny(toUpstream, toClient).ConfigureAwait(false);
        var other = first == toUpstream ? toClient : toUpstream;
        // After a clean close the other side may still be finishing (a WebSocket close handshake); after a failure
        // there is nothing left to finish.
        if (!other.IsCompleted && first.Result == RelayEnd.Closed)
        {
            await Task.WhenAny(other, Task.Delay(closeGrace, time)).ConfigureAwait(false);
        }
        connection.Close();
        // Which side ended first is decided where the end is seen, not by which task completes first: the client's FIN,
        // passed on, can make the backend reset before the client's direction has finished returning.
        return connection.FirstEnd == ClientConnection.EndedFromBackend;
    }

    private static async Task<RelayEnd> PumpAsync(ClientConnection connection, Socket source, Socket destination, bool toClient, TimeProvider time, Action<long, long> count)
    {
        var side = toClient ? ClientConnection.EndedFromBackend : ClientConnection.EndedFromClient;
        // The handshake sent on this socket too.
        var holdsSendBuffer = true;
        try
        {
            while (true)
            {
                // Do a 0 byte read so that idle connections don't hold a buffer.
                var readable = source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                if (!readable.IsCompleted && holdsSendBuffer)
                {
                    // Going idle. A socket keeps its last send buffer referenced until its next send, which would pin
                    // a 16 KiB buffer per idle tunnel once the pool has let go of it: an empty send releases it. Only
                    // once per burst, not per message.
                    holdsSendBuffer = false;
                    try
                    {
                        await destination.SendAsync(ReadOnlyMemory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                    }
                    catch (SocketException)
                    {
                        // The destination's own pump (or the next send) reports it.
                    }
                }
                await readable.ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    int read;
                    try
                    {
                        read = await source.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                    }
                    catch (SocketException)
                    {
                        connection.MarkEnd(side);
                        return RelayEnd.SourceFailed;
                    }
                    if (read == 0)
                    {
                        // Either side may close first: in a WebSocket close handshake the server (the backend) does.
                        connection.MarkEnd(ClientConnection.EndedCleanly);
                        TryShutdownSend(destination);
                        return RelayEnd.Closed;
                    }
                    connection.Touch(time.GetTimestamp());
                    try
                    {
                        holdsSendBuffer = true;
                        await destination.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
                    }
                    catch (SocketException)
                    {
                        connection.MarkEnd(side == ClientConnection.EndedFromClient ? ClientConnection.EndedFromBackend : ClientConnection.EndedFromClient);
                        return RelayEnd.DestinationFailed;
                    }
                    if (toClient)
                    {
                        count(0, read);
                    }
                    else
                    {
                        count(read, 0);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (SocketException)
        {
            connection.MarkEnd(side);
            return RelayEnd.SourceFailed;
        }
        catch (ObjectDisposedException)
        {
            return RelayEnd.Aborted;
        }
    }

    private static void TryShutdownSend(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already gone: nothing to tell it.
        }
    }
}
