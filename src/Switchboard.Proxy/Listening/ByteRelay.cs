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
    /// Returns how the upstream→client direction ended, for passive health.
    /// </summary>
    public static async Task<RelayEnd> RunAsync(ClientConnection connection, Socket upstream, TimeProvider time, TimeSpan closeGrace, Action<long, long> countBytes)
    {
        var toUpstream = PumpAsync(connection, connection.Client, upstream, time, n => countBytes(n, 0));
        var toClient = PumpAsync(connection, upstream, connection.Client, time, n => countBytes(0, n));
        var first = await Task.WhenAny(toUpstream, toClient).ConfigureAwait(false);
        var other = first == toUpstream ? toClient : toUpstream;
        // After a clean close the other side may still be finishing (a WebSocket close handshake); after a failure
        // there is nothing left to finish.
        if (!other.IsCompleted && first.Result == RelayEnd.Closed)
        {
            await Task.WhenAny(other, Task.Delay(closeGrace, time)).ConfigureAwait(false);
        }
        connection.Close();
        return await toClient.ConfigureAwait(false);
    }

    private static async Task<RelayEnd> PumpAsync(ClientConnection connection, Socket source, Socket destination, TimeProvider time, Action<long> count)
    {
        try
        {
            while (true)
            {
                // Do a 0 byte read so that idle connections don't hold a buffer.
                await source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
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
                        return RelayEnd.SourceFailed;
                    }
                    if (read == 0)
                    {
                        TryShutdownSend(destination);
                        return RelayEnd.Closed;
                    }
                    connection.Touch(time.GetTimestamp());
                    try
                    {
                        await destination.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
                    }
                    catch (SocketException)
                    {
                        return RelayEnd.DestinationFailed;
                    }
                    count(read);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (SocketException)
        {
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
