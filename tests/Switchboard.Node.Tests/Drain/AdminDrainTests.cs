using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Drain;

/// <summary><c>POST /v1/admin/nodes/{id}/drain</c>: the gateway relays drains over the backplane; raw clients see the <c>reconnect</c> frame.</summary>
public sealed class AdminDrainTests : IAsyncLifetime
{
    private const string AdminKey = "admin-key-for-tests";
    private TestCluster _cluster = null!;
    private readonly HttpClient _http = new() { Timeout = Eventually.DefaultTimeout };

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 3, o =>
    {
        var gateway = o.ConfigureGateway;
        o.ConfigureGateway = g =>
        {
            gateway?.Invoke(g);
            g.AdminKeys = [AdminKey];
        };
        o.ConfigureNode = n => n.CloseTimeout = TimeSpan.FromSeconds(2);
    });

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private Task<HttpResponseMessage> DrainAsync(string nodeId, string? body, string? key = AdminKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_cluster.Gateway, $"/v1/admin/nodes/{nodeId}/drain"));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        if (key is not null)
        {
            request.Headers.Add("X-Admin-Key", key);
        }
        return _http.SendAsync(request).WithTimeout("the admin API");
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    public async Task WithoutTheAdminKey_Is401_AndNothingMoves(string? key)
    {
        await using var bob = await _cluster.ConnectAsync("bob", "node-1");

        var response = await DrainAsync("node-1", null, key);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        _cluster.Cluster.Node("node-1").Node.IsDraining.ShouldBeFalse();
        (await bob.CommandAsync("""{"type":"ping","id":"p"}""", "p")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task UnknownNode_Is404()
    {
        var response = await DrainAsync("node-9", null);

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await JsonOf(response)).GetProperty("error").GetProperty("code").GetString().ShouldBe("unknown_node");
    }

    [Fact]
    public async Task BadCount_Is400()
    {
        var response = await DrainAsync("node-1", """{"count":0}""");

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task PartialDrain_SendsReconnectToThatManyClients_AndTheNodeStaysReady()
    {
        await using var a = await _cluster.ConnectAsync("a", "node-2");
        await using var b = await _cluster.ConnectAsync("b", "node-2");

        var response = await DrainAsync("node-2", """{"count":1}""");

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var answer = await JsonOf(response);
        answer.GetProperty("moving").GetInt32().ShouldBe(1);
        answer.GetProperty("draining").GetBoolean().ShouldBeFalse();
        _cluster.Cluster.Node("node-2").Node.IsReady.ShouldBeTrue();
        // One of the two gets the frame; the node closes it with 1012 when it does not move on its own.
        var frames = await Task.WhenAll(new[] { a, b }.Select(async c =>
        {
            try
            {
                // Also the window in which the client not asked must get nothing: long enough for a slow machine.
                var frame = await c.ReceiveAsync("reconnect", TimeSpan.FromSeconds(3));
                return frame.GetProperty("type").GetString();
            }
            catch (TimeoutException)
            {
                return null;
            }
        }));
        frames.Count(f => f == "reconnect").ShouldBe(1);
    }

    [Fact]
    public async Task FullDrain_TurnsTheNodeNotReady_AsksEveryClientToReconnect_AndStopsIt()
    {
        await using var a = await _cluster.ConnectAsync("a", "node-3");
        await using var b = await _cluster.ConnectAsync("b", "node-3");
        var node = _cluster.Cluster.Node("node-3").Node;

        var response = await DrainAsync("node-3", null);

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await JsonOf(response)).GetProperty("draining").GetBoolean().ShouldBeTrue();
        node.IsReady.ShouldBeFalse();
        foreach (var client in new[] { a, b })
        {
            var frame = await client.ReceiveAsync("the reconnect frame");
            frame.GetProperty("type").GetString().ShouldBe("reconnect");
            frame.GetProperty("reason").GetString().ShouldBe("drain");
            // A raw client that does not move is closed with 1012 after the close timeout.
            (await client.ReceiveCloseAsync("1012")).ShouldBe(1012);
        }
        // Gateways stop placing on it at once.
        var gatewayView = _cluster.Cluster.GatewayServices.GetRequiredService<Switchboard.Gateway.SwitchboardGateway>().Cluster;
        await Eventually.TrueAsync(() => !gatewayView.TryGetNode("node-3", out var state) || state.Heartbeat.Draining, "the gateway to see node-3 draining");
        // Its sessions are kept for their grace time; shortened here by resuming them elsewhere.
        foreach (var client in new[] { a, b })
        {
            await using var resumed = await _cluster.ResumeAsync(client.Welcome.GetProperty("userId").GetString()!, "node-1", client.Session, lastSeq: 0);
            resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
        }
        await Eventually.TrueAsync(() => node.Hub.Count == 0 && !node.IsReady, "node-3 to finish draining", TimeSpan.FromSeconds(20));
    }
}
