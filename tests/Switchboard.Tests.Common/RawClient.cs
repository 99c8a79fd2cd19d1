using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Shouldly;

namespace Switchboard.Tests.Common;

/// <summary>
/// A protocol-v1 client that knows only the wire contract: plain <see cref="ClientWebSocket"/> and JSON, no SDK.
/// Every receive has a timeout.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;

    private RawClient(ClientWebSocket socket) => _socket = socket;

    /// <summary>The socket, for tests that need to send odd frames.</summary>
    public ClientWebSocket Socket => _socket;

    /// <summary>The welcome frame, when connected through <see cref="ConnectAsync(Uri, string)"/> or given with <see cref="WithWelcome"/>.</summary>
    public JsonElement Welcome { get; private set; }

    /// <summary>The connection id from the welcome.</summary>
    public string ConnectionId => Welcome.GetProperty("connectionId").GetString()!;

    /// <summary>The session from the welcome.</summary>
    public string Session => Welcome.GetProperty("session").GetString()!;

    /// <summary>The node id from the welcome.</summary>
    public string NodeId => Welcome.GetProperty("node").GetString()!;

    /// <summary>Asks a dev-mode gateway for a placement: (node WebSocket URL with ticket, node id).</summary>
    /// <remarks>With <paramref name="resumeSession"/>, the ticket is a resume ticket for that session.</remarks>
    public static async Task<(Uri Url, string Node)> PlaceAsync(Uri gateway, string userId, string? resumeSession = null)
    {
        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        var path = resumeSession is null ? "/v1/connect" : $"/v1/connect?session={Uri.EscapeDataString(resumeSession)}";
        using var response = await http.PostAsJsonAsync(new Uri(gateway, path), new Dictionary<string, string> { ["userId"] = userId });
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var url = json.RootElement.GetProperty("url").GetString()!;
        var token = json.RootElement.GetProperty("token").GetString()!;
        return (new Uri($"{url}?token={Uri.EscapeDataString(token)}"), json.RootElement.GetProperty("node").GetString()!);
    }

    /// <summary>Places a user through the gateway, connects, and waits for the welcome.</summary>
    public static async Task<RawClient> ConnectAsync(Uri gateway, string userId)
    {
        var (url, _) = await PlaceAsync(gateway, userId);
        var client = await OpenAsync(url);
        client.Welcome = await client.ReceiveAsync("welcome");
        client.Welcome.GetProperty("type").GetString().ShouldBe("welcome");
        return client;
    }

    /// <summary>Opens a WebSocket with the v1 subprotocol and returns before any frame is read.</summary>
    public static async Task<RawClient> OpenAsync(Uri url, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("switchboard.v1");
        configure?.Invoke(socket.Options);
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        await socket.ConnectAsync(url, timeout.Token);
        return new RawClient(socket);
    }

    /// <summary>Wraps a socket a test opened itself (e.g. without the subprotocol).</summary>
    public static RawClient Of(ClientWebSocket socket) => new(socket);

    /// <summary>Records the welcome frame a test has already read.</summary>
    public RawClient WithWelcome(JsonElement welcome)
    {
        Welcome = welcome;
        return this;
    }

    /// <summary>Sends one text frame.</summary>
    public async Task SendAsync(string text)
    {
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, timeout.Token);
    }

    /// <summary>Sends a command and returns its reply, skipping (and returning) any messages that arrive first.</summary>
    public async Task<JsonElement> CommandAsync(string json, string id, List<JsonElement>? skipped = null)
    {
        await SendAsync(json);
        while (true)
        {
            var frame = await ReceiveAsync($"reply {id}");
            if (frame.GetProperty("type").GetString() == "reply" && frame.GetProperty("id").GetString() == id)
            {
                return frame;
            }
            skipped?.Add(frame);
        }
    }

    /// <summary>Receives the next frame as JSON; fails with <paramref name="what"/> after the timeout or on a close.</summary>
    public async Task<JsonElement> ReceiveAsync(string what, TimeSpan? timeout = null)
    {
        var text = await ReceiveTextAsync(what, timeout);
        return text is null
            ? throw new InvalidOperationException($"Waiting for {what}, the node closed: {(int?)_socket.CloseStatus} {_socket.CloseStatusDescription}")
            : JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Receives the next text frame, or null when the node closed.</summary>
    public async Task<string?> ReceiveTextAsync(string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Eventually.DefaultTimeout);
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    return Encoding.UTF8.GetString(message.ToArray());
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Timed out waiting for: {what}");
        }
    }

    /// <summary>Reads frames until the node closes; returns the close code.</summary>
    public async Task<int> ReceiveCloseAsync(string what, TimeSpan? timeout = null)
    {
        while (await ReceiveTextAsync(what, timeout) is not null)
        {
        }
        return (int)_socket.CloseStatus!;
    }

    /// <summary>Closes normally, bounded by the default timeout.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        _socket.Dispose();
    }
}
