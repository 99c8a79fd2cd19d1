using System.Buffers;
using System.Buffers.Text;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Switchboard.Protocol;
using Switchboard.Protocol.Transport;
using Switchboard.Security.Tickets;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// The node's lean WebSocket listener: it runs on a plain socket of its own port, below HTTP. It reads the opening
/// handshake itself, answers it, and hands the socket's stream to .NET's own WebSocket implementation. Nothing of the
/// HTTP request outlives the handshake, and no server transport sits under the socket, which is what makes an idle
/// connection several times cheaper than through the full HTTP server (no request, headers, URL copies, transport
/// pipes or HTTP pipeline kept per connection).
/// </summary>
internal sealed class DataPlaneAcceptor(SwitchboardNode node, NodeOptions options, DataPlaneReactor reactor)
{
    /// <summary>How long a client may take to send its handshake.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private static readonly byte[] AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8.ToArray();

    /// <summary>
    /// Runs one accepted socket's handshake, then hands the WebSocket to the node, which serves it until it ends.
    /// Completes once the handshake is done; never throws.
    /// </summary>
    public async Task AcceptAsync(Socket socket)
    {
        SocketStream stream;
        try
        {
            socket.NoDelay = true;
            stream = new SocketStream(socket, reactor.Reactor, reactor.Dispatcher);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Reset before it was served.
            socket.Dispose();
            return;
        }
        try
        {
            // The handshake runs in its own method: what it read (the ticket's text above all) must not stay alive in
            // this method's state for as long as the connection lasts.
            var (webSocket, cork, ticket, request) = await HandshakeAsync(stream).ConfigureAwait(false);
            if (webSocket is not null)
            {
                // Not awaited: nothing waits for this method, and leaving it lets its state go for the connection's
                // lifetime. The node owns the WebSocket (and through it the stream) from here on, and keeps nothing
                // parked for it but the connection's own receive loop.
                _ = node.StartServingAsync(webSocket, ticket, cork, request!.MessageIds, request.ConfirmSends);
                return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away during the handshake.
        }
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<(WebSocket?, CorkingStream?, TicketValidation, UpgradeRequest?)> HandshakeAsync(Stream stream)
    {
        var (request, refusal, afterHead) = await ReadHandshakeAsync(stream).ConfigureAwait(false);
        if (request is null)
        {
            if (refusal is not null)
            {
                await WriteRefusalAsync(stream, refusal).ConfigureAwait(false);
            }
            return (null, null, default, null);
        }
        var ticket = await node.ValidateTicketAsync(request.Token).ConfigureAwait(false);
        await WriteSwitchingProtocolsAsync(stream, request).ConfigureAwait(false);
        // The connection gathers the frames it has queued into one socket write (see ClientConnection's send task).
        var over = PrefixedStream.Over(stream, afterHead);
        var cork = options.GatherWrites ? new CorkingStream(over) : null;
        var socket = WebSocket.CreateFromStream((Stream?)cork ?? over, new WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = request.OffersSubprotocol ? WireNames.Subprotocol : null,
            KeepAliveInterval = options.KeepAliveInterval,
        });
        return (socket, cork, ticket, request);
    }

    /// <summary>Reads until the end of the request head; returns it parsed (or refused) and the bytes that came after it.</summary>
    private static async Task<(UpgradeRequest?, UpgradeRefusal?, byte[])> ReadHandshakeAsync(Stream stream)
    {
        // One byte more than the largest head, so that an oversized head is seen as such rather than as incomplete.
        var buffer = ArrayPool<byte>.Shared.Rent(UpgradeRequestParser.MaxHeadBytes + 1);
        using var timeout = new CancellationTokenSource(HandshakeTimeout);
        try
        {
            var filled = 0;
            while (true)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(filled, UpgradeRequestParser.MaxHeadBytes + 1 - filled), timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return (null, null, []);
                }
                filled += read;
                var sequence = new ReadOnlySequence<byte>(buffer, 0, filled);
                if (UpgradeRequestParser.TryParse(sequence, out var consumed, out var request, out var refusal))
                {
                    return (request, refusal, sequence.Slice(consumed).ToArray());
                }
            }
        }
        catch (OperationCanceledException)
        {
            return (null, new UpgradeRefusal(408, "handshake_timeout", $"no complete handshake within {HandshakeTimeout.TotalSeconds:0} s"), []);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static readonly byte[] SwitchingProtocolsHead =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "u8.ToArray();

    private static readonly byte[] SubprotocolField = Encoding.ASCII.GetBytes($"\r\nSec-WebSocket-Protocol: {WireNames.Subprotocol}");

    /// <summary>The 101 answer, made in one array: every connection gets one, so it costs no strings on the way.</summary>
    private static ValueTask WriteSwitchingProtocolsAsync(Stream stream, UpgradeRequest request)
    {
        // The parser let through only keys of 24 base64 characters.
        Span<byte> keyAndGuid = stackalloc byte[request.Key.Length + AcceptGuid.Length];
        var keyBytes = Encoding.ASCII.GetBytes(request.Key, keyAndGuid);
        AcceptGuid.CopyTo(keyAndGuid[keyBytes..]);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(keyAndGuid, hash);
        var acceptLength = Base64.GetMaxEncodedToUtf8Length(hash.Length);
        var subprotocol = request.OffersSubprotocol ? SubprotocolField : [];
        var head = new byte[SwitchingProtocolsHead.Length + acceptLength + subprotocol.Length + 4];
        SwitchingProtocolsHead.CopyTo(head, 0);
        Base64.EncodeToUtf8(hash, head.AsSpan(SwitchingProtocolsHead.Length), out _, out _);
        subprotocol.CopyTo(head, SwitchingProtocolsHead.Length + acceptLength);
        "\r\n\r\n"u8.CopyTo(head.AsSpan(head.Length - 4));
        return stream.WriteAsync(head);
    }

    private static async Task WriteRefusalAsync(Stream stream, UpgradeRefusal refusal)
    {
        var body = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("code", refusal.Code);
            writer.WriteString("message", refusal.Message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        var head = new StringBuilder($"HTTP/1.1 {refusal.Status} {ReasonPhrase(refusal.Status)}\r\n")
            .Append("Content-Type: application/json\r\n")
            .Append("Content-Length: ").Append(body.WrittenCount).Append("\r\nConnection: close\r\n");
        if (refusal.Status == 426)
        {
            head.Append("Sec-WebSocket-Version: 13\r\n");
        }
        head.Append("\r\n");
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
            await stream.WriteAsync(body.WrittenMemory).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is gone; there is nobody to tell.
        }
    }

    private static string ReasonPhrase(int status) => status switch
    {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
}
