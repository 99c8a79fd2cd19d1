using System.Buffers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Switchboard.Protocol;
using Switchboard.Security.Tickets;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// The node's lean WebSocket listener: it runs on a connection of its own port, below HTTP. It reads the opening
/// handshake itself, answers it, and hands the connection to .NET's own WebSocket implementation. Nothing of the
/// HTTP request outlives the handshake, which is what makes an idle connection several times cheaper than through
/// the full HTTP server (no request, headers, URL copies or HTTP pipeline kept per connection).
/// </summary>
internal sealed class DataPlaneAcceptor(SwitchboardNode node, NodeOptions options)
{
    /// <summary>How long a client may take to send its handshake.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private static readonly byte[] AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8.ToArray();

    /// <summary>Runs one connection: handshake, then the WebSocket until it ends.</summary>
    public async Task AcceptAsync(ConnectionContext connection)
    {
        // The handshake runs in its own method: what it read (the ticket's text above all) must not stay alive in this
        // method's state for as long as the connection lasts.
        var (socket, ticket) = await HandshakeAsync(connection).ConfigureAwait(false);
        if (socket is not null)
        {
            await node.ServeAsync(socket, ticket).ConfigureAwait(false);
        }
    }

    private async Task<(WebSocket?, TicketValidation)> HandshakeAsync(ConnectionContext connection)
    {
        var (request, refusal) = await ReadHandshakeAsync(connection).ConfigureAwait(false);
        if (request is null)
        {
            if (refusal is not null)
            {
                await WriteRefusalAsync(connection, refusal).ConfigureAwait(false);
            }
            return (null, default);
        }
        var ticket = await node.ValidateTicketAsync(request.Token).ConfigureAwait(false);
        await WriteSwitchingProtocolsAsync(connection, request).ConfigureAwait(false);
        var socket = WebSocket.CreateFromStream(new DuplexPipeStream(connection.Transport), new WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = request.OffersSubprotocol ? WireNames.Subprotocol : null,
            KeepAliveInterval = options.KeepAliveInterval,
        });
        return (socket, ticket);
    }

    private static async Task<(UpgradeRequest?, UpgradeRefusal?)> ReadHandshakeAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(HandshakeTimeout);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                if (UpgradeRequestParser.TryParse(result.Buffer, out var consumed, out var request, out var refusal))
                {
                    // Bytes after the head (a client that sends its first frame at once) stay in the pipe for the WebSocket.
                    input.AdvanceTo(consumed);
                    return (request, refusal);
                }
                if (result.IsCompleted)
                {
                    input.AdvanceTo(result.Buffer.End);
                    return (null, null);
                }
                input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }
        catch (OperationCanceledException) when (!connection.ConnectionClosed.IsCancellationRequested)
        {
            return (null, new UpgradeRefusal(408, "handshake_timeout", $"no complete handshake within {HandshakeTimeout.TotalSeconds:0} s"));
        }
        catch (OperationCanceledException)
        {
            return (null, null);
        }
    }

    private static async Task WriteSwitchingProtocolsAsync(ConnectionContext connection, UpgradeRequest request)
    {
        var accept = Convert.ToBase64String(SHA1.HashData([.. Encoding.ASCII.GetBytes(request.Key), .. AcceptGuid]));
        var head = new StringBuilder("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
            .Append("Sec-WebSocket-Accept: ").Append(accept).Append("\r\n");
        if (request.OffersSubprotocol)
        {
            head.Append("Sec-WebSocket-Protocol: ").Append(WireNames.Subprotocol).Append("\r\n");
        }
        head.Append("\r\n");
        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
    }

    private static async Task WriteRefusalAsync(ConnectionContext connection, UpgradeRefusal refusal)
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
            await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
            await connection.Transport.Output.WriteAsync(body.WrittenMemory).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or OperationCanceledException)
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
