using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Protocol;
using Switchboard.Security.UserTokens;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests;

/// <summary>
/// A gateway on a real Kestrel server on 127.0.0.1, port 0, over an <see cref="InMemoryBackplane"/> (or a test backplane
/// in front of one) the test drives.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string ClusterSecret = "test-cluster-secret-0123456789-abcdef";
    public const string UserSecret = "test-user-secret-0123456789-abcdefghij";
    public const string ApiKey = "test-api-key";

    private readonly WebApplication _app;
    private readonly List<IAsyncDisposable> _joined = [];

    private GatewayHost(WebApplication app, IBackplane backplane, Uri baseAddress, TimeProvider time)
    {
        _app = app;
        Backplane = backplane;
        BaseAddress = baseAddress;
        Time = time;
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public IBackplane Backplane { get; }

    public Uri BaseAddress { get; }

    public TimeProvider Time { get; }

    /// <summary>Does not follow redirects, so tests see the 307 itself.</summary>
    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a gateway with test secrets, an API key and HS256 user tokens; <paramref name="configure"/> adjusts them.
    /// <paramref name="backplane"/> (disposed with the host) replaces the in-memory backplane.
    /// </summary>
    public static async Task<GatewayHost> StartAsync(Action<GatewayOptions>? configure = null, TimeProvider? time = null, int seed = 1,
        IBackplane? backplane = null)
    {
        backplane ??= new InMemoryBackplane();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IBackplane>(backplane);
        builder.Services.AddSingleton(new Random(seed));
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }
        builder.Services.AddSwitchboardGateway(o =>
        {
            o.ClusterSecret = ClusterSecret;
            o.UserTokens.Secret = UserSecret;
            o.ApiKeys = [ApiKey];
            configure?.Invoke(o);
        });
        var app = builder.Build();
        app.MapSwitchboardGateway();
        try
        {
            await app.StartAsync().WithTimeout("gateway start");
        }
        catch
        {
            await app.DisposeAsync();
            await backplane.DisposeAsync();
            throw;
        }
        return new GatewayHost(app, backplane, new Uri(app.Urls.First()), time ?? TimeProvider.System);
    }

    /// <summary>The URL a fake node advertises.</summary>
    public static string NodeUrl(string nodeId) => $"ws://{nodeId}.test:7001/v1/ws";

    public Task HeartbeatAsync(string nodeId, int connections = 0, int capacity = 1000, double cpu = 0, bool draining = false, long epoch = 1,
        long arrivals = 0) =>
        Backplane.PublishHeartbeatAsync(new NodeHeartbeat(
            nodeId, NodeUrl(nodeId), connections, capacity, cpu, 0, draining, epoch, "test", Time.GetUtcNow(), arrivals)).AsTask();

    /// <summary>Joins a fake node to the backplane; its inbox records what reaches it.</summary>
    public Task<FakeNodeInbox> JoinFakeNodeAsync(string nodeId) => JoinFakeNodeAsync(nodeId, new FakeNodeInbox());

    /// <summary>Joins a fake node with its own inbox (one that answers requests, say).</summary>
    public async Task<TInbox> JoinFakeNodeAsync<TInbox>(string nodeId, TInbox inbox)
        where TInbox : INodeInbox
    {
        _joined.Add(await Backplane.JoinAsync(nodeId, inbox).WithTimeout($"join {nodeId}"));
        return inbox;
    }

    public string UserToken(string userId) => new UserTokenIssuer(UserSecret, Time).Issue(userId, TimeSpan.FromMinutes(5));

    public Task<HttpResponseMessage> ConnectAsync(string userId)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/connect");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", UserToken(userId));
        return Client.SendAsync(request).WithTimeout("POST /v1/connect");
    }

    public Task<HttpResponseMessage> PublishAsync(string json, string? apiKey = ApiKey, params string[] idempotencyKeys)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/publish") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }
        if (idempotencyKeys.Length > 0)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKeys);
        }
        return Client.SendAsync(request).WithTimeout("POST /v1/publish");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        foreach (var registration in _joined)
        {
            await registration.DisposeAsync();
        }
        await _app.StopAsync().WithTimeout("gateway stop");
        await _app.DisposeAsync();
        await Backplane.DisposeAsync();
    }
}

/// <summary>A node's inbox that records every routed message.</summary>
public sealed class FakeNodeInbox : INodeInbox
{
    private readonly ConcurrentQueue<RoutedMessage> _messages = new();

    public IReadOnlyList<RoutedMessage> Messages => _messages.ToArray();

    public void OnMessage(RoutedMessage message) => _messages.Enqueue(message);

    /// <summary>The <c>data</c> of each message, as JSON text.</summary>
    public IReadOnlyList<string> Data => Messages.Select(DataOf).ToArray();

    public static string DataOf(RoutedMessage message)
    {
        // The prefix is an unterminated frame: close it to read it as JSON.
        using var document = JsonDocument.Parse(Encoding.UTF8.GetString(message.FramePrefix) + "}");
        return document.RootElement.GetProperty("data").GetRawText();
    }
}

/// <summary>Reads the gateway's JSON answers.</summary>
public static class Answers
{
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/json");
        var text = await response.Content.ReadAsStringAsync().WithTimeout("response body");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public static async Task<string> ErrorCodeAsync(this HttpResponseMessage response) =>
        (await response.JsonAsync()).GetProperty("error").GetProperty("code").GetString()!;
}
