using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Switchboard.Bench.Targets;

/// <summary>
/// The baseline: a bare Kestrel WebSocket server with nothing of Switchboard in it. Any path echoes each frame to its
/// sender; <c>/broadcast</c> sends each frame to every other connection on that path. Idle connections do zero-byte
/// reads, as the node does, so the comparison is fair.
/// </summary>
public static class EchoServer
{
    /// <summary>The path whose frames are sent to every other connection on it.</summary>
    public const string BroadcastPath = "/broadcast";

    /// <summary>Starts the server on <paramref name="port"/> (0: any) of 127.0.0.1 and returns it running.</summary>
    public static async Task<WebApplication> StartAsync(int port, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentUpgradedConnections = null);
        var app = builder.Build();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        var room = new ConcurrentDictionary<WebSocket, Channel<byte[]>>();
        app.Run(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            if (context.Request.Path == BroadcastPath)
            {
                await BroadcastAsync(socket, room).ConfigureAwait(false);
            }
            else
            {
                await EchoAsync(socket).ConfigureAwait(false);
            }
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    private static async Task EchoAsync(WebSocket socket)
    {
        try
        {
            while (await ReceiveAsync(socket).ConfigureAwait(false) is { } frame)
            {
                await socket.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            }
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
    }

    private static async Task BroadcastAsync(WebSocket socket, ConcurrentDictionary<WebSocket, Channel<byte[]>> room)
    {
        var outbox = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        room[socket] = outbox;
        var sending = Task.Run(async () =>
        {
            try
            {
                await foreach (var frame in outbox.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    await socket.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
            {
            }
        });
        try
        {
            while (await ReceiveAsync(socket).ConfigureAwait(false) is { } frame)
            {
                foreach (var (other, channel) in room)
                {
                    if (other != socket)
                    {
                        channel.Writer.TryWrite(frame);
                    }
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
        }
        finally
        {
            room.TryRemove(socket, out _);
            outbox.Writer.TryComplete();
            await sending.ConfigureAwait(false);
        }
    }

    /// <summary>Waits with a zero-byte read, then reads one whole frame; null when the peer closes.</summary>
    private static async Task<byte[]?> ReceiveAsync(WebSocket socket)
    {
        await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var filled = 0;
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var result = await socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                filled += result.Count;
                if (result.EndOfMessage)
                {
                    return buffer.AsSpan(0, filled).ToArray();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
