using System.Net.WebSockets;

namespace Switchboard.Proxy.Failover;

/// <summary>One whole WebSocket message, as failover mode relays it.</summary>
internal readonly record struct FailoverFrame(byte[] Data, WebSocketMessageType Type);

/// <summary>Reads whole messages from a WebSocket, at most <see cref="MaxFrameBytes"/> each.</summary>
internal static class FrameReader
{
    /// <summary>Largest frame relayed either way; a larger one closes the client with 1009.</summary>
    public const int MaxFrameBytes = 1024 * 1024;

    /// <summary>One whole message, or null on a close frame.</summary>
    /// <exception cref="FrameTooLargeException">The message is larger than <see cref="MaxFrameBytes"/>.</exception>
    public static async Task<FailoverFrame?> ReceiveAsync(WebSocket socket, CancellationToken token)
    {
        var buffer = new byte[4096];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= MaxFrameBytes)
                {
                    throw new FrameTooLargeException();
                }
                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxFrameBytes));
            }
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), token).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return new FailoverFrame(buffer.AsSpan(0, length).ToArray(), result.MessageType);
            }
        }
    }
}

/// <summary>A message larger than <see cref="FrameReader.MaxFrameBytes"/>.</summary>
internal sealed class FrameTooLargeException() : Exception("frame larger than " + FrameReader.MaxFrameBytes + " bytes");
