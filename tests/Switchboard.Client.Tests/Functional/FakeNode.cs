using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests.Functional;

/// <summary>
/// A scripted node on a real Kestrel socket, for what a real node does not do on demand: drop a connection with a
/// command in flight, send fragments, oversized frames or a <c>reconnect</c>. Each accepted connection runs the script
/// with its index (0 for the first).
/// </summary>
internal sealed class FakeNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _accepted;

    private FakeNode(WebApplication app) => _app = app;

    public Uri WebSocketUrl { get; private set; } = null!;

    public int Accepted => Volatile.Read(ref _accepted);

    public static async Task<FakeNode> StartAsync(Func<FakeNodeConnection, Task> script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.WebHost.UseUrls();
        var app = builder.Build();
        var node = new FakeNode(app);
        app.UseWebSockets();
        app.Map(WireNames.WebSocketPath, async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync(WireNames.Subprotocol);
            var index = Interlocked.Increment(ref node._accepted) - 1;
            await script(new FakeNodeConnection(socket, index, context.Request.Query[WireNames.TokenQueryParameter].ToString())
            {
                AsksForIds = context.Request.Query[WireNames.MessageIdsQueryParameter] == "1",
            });
        });
        await app.StartAsync().WaitAsync(Eventually.DefaultTimeout);
        node.WebSocketUrl = new Uri(app.Urls.First().Replace("http://", "ws://", StringComparison.Ordinal) + WireNames.WebSocketPath);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(Eventually.DefaultTimeout);
        await _app.DisposeAsync();
    }
}

/// <summary>One accepted connection of a <see cref="FakeNode"/>.</summary>
internal sealed class FakeNodeConnection(WebSocket socket, int index, string ticket)
{
    public WebSocket Socket { get; } = socket;

    public int Index { get; } = index;

    public string Ticket { get; } = ticket;

    /// <summary>Whether the client dialled with <c>ids=1</c>.</summary>
    public bool AsksForIds { get; init; }

    public Task SendWelcomeAsync() =>
        SendAsync(ServerFrames.Welcome($"conn-{Index}", "alice", "fake-node", $"session-{Index}", resumed: false));

    public Task SendAsync(string json) => SendAsync(Encoding.UTF8.GetBytes(json));

    public Task SendAsync(byte[] frame) =>
        Socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).WaitAsync(Eventually.DefaultTimeout);

    /// <summary>The next client frame as JSON; null when the client closed (then <see cref="WebSocket.CloseStatus"/> says how).</summary>
    public async Task<JsonElement?> ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(Eventually.DefaultTimeout);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
            }
        }
    }

    /// <summary>Answers every command with ok until the client closes; returns the commands seen.</summary>
    public async Task<List<JsonElement>> ReplyOkUntilClosedAsync(Action<JsonElement>? onCommand = null)
    {
        var commands = new List<JsonElement>();
        while (await ReceiveAsync() is { } command)
        {
            commands.Add(command);
            onCommand?.Invoke(command);
            if (command.TryGetProperty("id", out var id))
            {
                await SendAsync(ServerFrames.ReplyOk(id.GetString()!));
            }
        }
        await CloseAsync(CloseCodes.Normal);
        return commands;
    }

    public async Task CloseAsync(int status, string description = "")
    {
        if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try
            {
                await Socket.CloseAsync((WebSocketCloseStatus)status, description, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
            {
                // The client may already be gone.
            }
        }
    }
}
