using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;

namespace Switchboard.Proxy.Tests;

internal static class ProxyTestHelpers
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public static async Task<TestBackend[]> StartBackendsAsync(int count) =>
        await Task.WhenAll(Enumerable.Range(1, count).Select(i => TestBackend.StartAsync($"b{i}")));

    public static ProxyOptions Options(params TestBackend[] backends) => new()
    {
        Listen = "127.0.0.1:0",
        Backends = backends.Select(b => b.Spec).ToList(),
    };

    public static Uri WsUrl(this ProxyServer proxy, string pathAndQuery = "/") => new($"ws://{proxy.ListenEndPoint}{pathAndQuery}");

    /// <summary>Opens a WebSocket through the proxy.</summary>
    public static async Task<ClientWebSocket> ConnectAsync(ProxyServer proxy, string pathAndQuery = "/", Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        await socket.ConnectAsync(proxy.WsUrl(pathAndQuery), CancellationToken.None).WaitAsync(Patience);
        return socket;
    }

    public static async Task SendTextAsync(this ClientWebSocket socket, string text) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None).WaitAsync(Patience);

    public static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(this ClientWebSocket socket)
    {
        var buffer = new byte[256 * 1024];
        var total = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(total), CancellationToken.None).AsTask().WaitAsync(Patience);
            total += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, buffer[..total]);
            }
        }
    }

    public static async Task<string> ReceiveTextAsync(this ClientWebSocket socket) =>
        Encoding.UTF8.GetString((await socket.ReceiveMessageAsync()).Data);

    /// <summary>Asks the backend behind a tunnel for its name.</summary>
    public static async Task<string> WhoAmIAsync(this ClientWebSocket socket)
    {
        await socket.SendTextAsync("whoami");
        return await socket.ReceiveTextAsync();
    }

    /// <summary>Sends raw bytes to the proxy and reads everything it answers until it closes.</summary>
    public static async Task<string> RawExchangeAsync(IPEndPoint proxy, string request)
    {
        using var client = new Socket(proxy.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy).WaitAsync(Patience);
        await client.SendAsync(Encoding.Latin1.GetBytes(request), SocketFlags.None).WaitAsync(Patience);
        return await ReadToEndAsync(client);
    }

    public static async Task<string> ReadToEndAsync(Socket client) => Encoding.Latin1.GetString(await ReadAllBytesAsync(client));

    /// <summary>Every byte <paramref name="socket"/> receives until its peer closes.</summary>
    public static async Task<byte[]> ReadAllBytesAsync(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience)) > 0)
        {
            all.Write(buffer, 0, read);
        }
        return all.ToArray();
    }

    /// <summary>A minimal valid upgrade request head.</summary>
    public static string Upgrade(string target = "/", string extraHeaders = "") =>
        $"GET {target} HTTP/1.1\r\nHost: proxy\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extraHeaders}\r\n";

    public static Task WaitAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what);
}
