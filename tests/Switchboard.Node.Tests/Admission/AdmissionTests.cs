using System.Net;
using System.Net.WebSockets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Admission;

/// <summary>What a node lets in: tickets, its connection cap, and only WebSocket upgrades on /v1/ws.</summary>
public sealed class AdmissionTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNodeById = (id, n) => n.MaxConnections = id == "node-1" ? 2 : 100);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task ExpiredTicket_ClosesWith1008()
    {
        await using var client = await RawClient.OpenAsync(_cluster.TicketUrl("u", "node-2", lifetime: TimeSpan.FromSeconds(-30)));
        (await client.ReceiveCloseAsync("close")).ShouldBe(1008);
        client.Socket.CloseStatusDescription!.ShouldContain("expired");
    }

    [Fact]
    public async Task ForgedTicket_ClosesWith1008()
    {
        await using var client = await RawClient.OpenAsync(_cluster.TicketUrl("u", "node-2", secret: "another-cluster-secret-0123456789-abcdef"));
        (await client.ReceiveCloseAsync("close")).ShouldBe(1008);
        client.Socket.CloseStatusDescription!.ShouldContain("signature");
    }

    [Fact]
    public async Task TicketForAnotherNode_ClosesWith1008()
    {
        await using var client = await RawClient.OpenAsync(_cluster.TicketUrl("u", "node-2", ticketNodeId: "node-1"));
        (await client.ReceiveCloseAsync("close")).ShouldBe(1008);
        client.Socket.CloseStatusDescription!.ShouldContain("another node");
    }

    [Fact]
    public async Task MissingOrGarbageTicket_ClosesWith1008()
    {
        var node = _cluster.Cluster.Node("node-2").WebSocketUrl;
        await using var missing = await RawClient.OpenAsync(node);
        (await missing.ReceiveCloseAsync("close")).ShouldBe(1008);
        await using var garbage = await RawClient.OpenAsync(new Uri(node + "?token=not.a.jwt"));
        (await garbage.ReceiveCloseAsync("close")).ShouldBe(1008);
    }

    [Fact]
    public async Task TicketUsedTwice_ClosesTheSecondWith1008()
    {
        var url = _cluster.TicketUrl("twice", "node-2");
        await using var first = await RawClient.OpenAsync(url);
        (await first.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");

        await using var second = await RawClient.OpenAsync(url);
        (await second.ReceiveCloseAsync("close")).ShouldBe(1008);
        second.Socket.CloseStatusDescription!.ShouldContain("already used");
    }

    [Fact]
    public async Task FullNode_ClosesWith1013_AndItsConnectionsStayUp()
    {
        await using var first = await _cluster.ConnectAsync("full1", "node-1");
        await using var second = await _cluster.ConnectAsync("full2", "node-1");

        await using var third = await RawClient.OpenAsync(_cluster.TicketUrl("full3", "node-1"));
        (await third.ReceiveCloseAsync("close")).ShouldBe(1013);

        (await first.CommandAsync("""{"type":"send","to":"user:full2","data":"still here","id":"p"}""", "p")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await second.ReceiveAsync("message")).GetProperty("data").GetString().ShouldBe("still here");
    }

    [Fact]
    public async Task PlainHttpRequestToTheWebSocketPath_Gets400WithJson()
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(_cluster.Cluster.Node("node-2").HttpUrl + "v1/ws").WaitAsync(Eventually.DefaultTimeout);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        (await response.Content.ReadAsStringAsync()).ShouldContain("websocket_required");
    }

    [Fact]
    public async Task UpgradeWithOnlyAnotherSubprotocol_IsRefused()
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        var attempt = () => socket.ConnectAsync(_cluster.TicketUrl("u", "node-2"), timeout.Token);
        (await attempt.ShouldThrowAsync<WebSocketException>()).Message.ShouldContain("400");
    }

    [Fact]
    public async Task HealthEndpoints_AnswerOnANode()
    {
        using var http = new HttpClient();
        var node = _cluster.Cluster.Node("node-2").HttpUrl;
        (await http.GetAsync(node + "healthz").WaitAsync(Eventually.DefaultTimeout)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var ready = await http.GetAsync(node + "readyz").WaitAsync(Eventually.DefaultTimeout);
        ready.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await ready.Content.ReadAsStringAsync()).ShouldContain("ready");
    }
}
