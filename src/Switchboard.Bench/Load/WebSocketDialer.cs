using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Switchboard.Protocol.Transport;

namespace Switchboard.Bench.Load;

/// <summary>
/// Opens a client WebSocket on a socket bound to a chosen source address: a minimal HTTP/1.1 upgrade, then .NET's own
/// WebSocket over the stream. Binding is what takes the bench past the ~28k ephemeral ports of one address.
/// </summary>
/// <remarks>The stream is returned too: the bench writes its message frames on it itself (<see cref="MaskedFrame"/>).</remarks>
internal static class WebSocketDialer
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private const int MaxResponseHeaderBytes = 8192;

    public static async Task<DialedSocket> ConnectAsync(Uri url, IPAddress? source, string? subprotocol, CancellationToken cancellationToken)
    {
        var remote = await ResolveAsync(url, cancellationToken).ConfigureAwait(false);
        var socket = new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                // The port is picked at connect, per destination, so one source address is not one shared pool of ports.
                SourceBinding.Bind(socket, source);
            }
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new BenchConnectException($"tcp_{e.SocketErrorCode}".ToLowerInvariant(), e.Message);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Request(url, key, subprotocol)), cancellationToken).ConfigureAwait(false);
            var leftover = await ReadResponseAsync(stream, key, cancellationToken).ConfigureAwait(false);
            var layered = new ReadAheadStream(PrefixedStream.Over(stream, leftover));
            return new DialedSocket(WebSocket.CreateFromStream(layered, new WebSocketCreationOptions
            {
                IsServer = false,
                SubProtocol = subprotocol,
                KeepAliveInterval = TimeSpan.Zero,
            }), layered);
        }
        catch (IOException e)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new BenchConnectException("handshake_io", e.Message);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async ValueTask<IPEndPoint> ResolveAsync(Uri url, CancellationToken cancellationToken)
    {
        var port = url.IsDefaultPort ? 80 : url.Port;
        if (IPAddress.TryParse(url.IdnHost.Trim('[', ']'), out var address))
        {
            return new IPEndPoint(address, port);
        }
        var addresses = await Dns.GetHostAddressesAsync(url.IdnHost, cancellationToken).ConfigureAwait(false);
        return new IPEndPoint(addresses.First(), port);
    }

    private static string Request(Uri url, string key, string? subprotocol) =>
        $"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n" +
        (subprotocol is null ? "" : $"Sec-WebSocket-Protocol: {subprotocol}\r\n") + "\r\n";

    /// <summary>Reads the response head, checks it is a valid 101, and returns whatever bytes came after it.</summary>
    private static async Task<byte[]> ReadResponseAsync(Stream stream, string key, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxResponseHeaderBytes);
        try
        {
            var filled = 0;
            int end;
            while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == MaxResponseHeaderBytes)
                {
                    throw new BenchConnectException("handshake_too_large", "The upgrade response head is over 8 KB.");
                }
                var read = await stream.ReadAsync(buffer.AsMemory(filled, MaxResponseHeaderBytes - filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new BenchConnectException("handshake_eof", "The server closed the connection during the upgrade.");
                }
                filled += read;
            }
            var head = Encoding.ASCII.GetString(buffer, 0, end);
            var lines = head.Split("\r\n");
            var status = lines[0].Split(' ', 3);
            if (status.Length < 2 || status[1] != "101")
            {
                throw new BenchConnectException($"http_{(status.Length > 1 ? status[1] : "invalid")}", lines[0]);
            }
            var expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));
            var accept = lines.Skip(1).Select(l => l.Split(':', 2)).FirstOrDefault(p => p.Length == 2 && p[0].Trim().Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase));
            if (accept is null || accept[1].Trim() != expected)
            {
                throw new BenchConnectException("handshake_bad_accept", "The server's Sec-WebSocket-Accept does not match the key.");
            }
            return buffer.AsSpan(end + 4, filled - end - 4).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>A dialed connection: the WebSocket, and the stream under it that the bench writes its own frames on.</summary>
internal sealed record DialedSocket(WebSocket Socket, ReadAheadStream Stream);

/// <summary>A connection attempt that failed, with a short reason the report groups failures by.</summary>
public sealed class BenchConnectException(string reason, string message) : Exception(message)
{
    /// <summary>The failure's reason, e.g. <c>http_503</c>, <c>close_1013</c>, <c>tcp_connectionrefused</c>.</summary>
    public string Reason { get; } = reason;
}
