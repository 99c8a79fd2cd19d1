using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Switchboard.Proxy.Tests;

/// <summary>What a backend saw of one WebSocket upgrade.</summary>
internal sealed record SeenRequest(string Path, string Query, IReadOnlyDictionary<string, string> Headers, IPAddress RemoteAddress, string? AcceptedSubprotocol);

/// <summary>
/// A real Kestrel WebSocket server on a free loopback port: echoes every message (type and bytes), records each
/// upgrade's request, answers <c>/healthz</c> with 200 or 503 as the test says, and greets with its name on <c>/whoami</c>.
/// </summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _open;

    private TestBackend(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }

    public Uri Url { get; private set; } = null!;

    /// <summary>The backend as <c>--backend</c> takes it.</summary>
    public string Spec => Url.ToString().TrimEnd('/');

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public int Open => Volatile.Read(ref _open);

    public int Accepted => Requests.Count;

    public volatile bool Healthy = true;

    public static async Task<TestBackend> StartAsync(string name, string host = "127.0.0.1")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Parse(host), 0));
        builder.WebHost.UseUrls();
        var app = builder.Build();
        var backend = new TestBackend(app, name);
        app.UseWebSockets();
        app.Run(backend.HandleAsync);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Url = new Uri(address.Replace("http://", "ws://"));
        return backend;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path == "/healthz")
        {
            context.Response.StatusCode = Healthy ? 200 : 503;
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 404;
            return;
        }
        var subprotocol = context.WebSockets.WebSocketRequestedProtocols.FirstOrDefault();
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        Requests.Enqueue(new SeenRequest(context.Request.Path, context.Request.QueryString.Value ?? "", headers, context.Connection.RemoteIpAddress!, subprotocol));
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = subprotocol, DangerousEnableCompression = true });
        Interlocked.Increment(ref _open);
        try
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    return;
                }
                var text = result.MessageType == WebSocketMessageType.Text ? System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count) : null;
                if (text == "abort")
                {
                    context.Abort(); // a crash mid-session, as the proxy sees it: the connection is reset
                    return;
                }
                if (text == "whoami")
                {
                    await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(Name), WebSocketMessageType.Text, true, context.RequestAborted);
                    continue;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The client or the proxy went away.
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
        await _app.DisposeAsync();
    }
}
