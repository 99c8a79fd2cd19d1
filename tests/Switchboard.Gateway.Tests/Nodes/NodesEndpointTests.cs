using System.Net;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Nodes;

public sealed class NodesEndpointTests
{
    [Fact]
    public async Task Nodes_ListsEveryLiveNodeByIdWithPendingPlacementsAndScore()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-2", connections: 10, capacity: 100, cpu: 0.5);
        await host.HeartbeatAsync("node-1", connections: 0, capacity: 100, draining: true);
        (await host.ConnectAsync("alice")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var response = await host.Client.GetAsync("/v1/nodes").WithTimeout("GET /v1/nodes");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var nodes = (await response.JsonAsync()).GetProperty("nodes").EnumerateArray().ToArray();
        nodes.Select(n => n.GetProperty("nodeId").GetString()).ShouldBe(["node-1", "node-2"]);
        nodes[0].GetProperty("draining").GetBoolean().ShouldBeTrue();
        var node2 = nodes[1];
        node2.GetProperty("url").GetString().ShouldBe(GatewayHost.NodeUrl("node-2"));
        node2.GetProperty("connections").GetInt32().ShouldBe(10);
        node2.GetProperty("capacity").GetInt32().ShouldBe(100);
        node2.GetProperty("cpu").GetDouble().ShouldBe(0.5);
        node2.GetProperty("messagesPerSecond").GetDouble().ShouldBe(0);
        node2.GetProperty("epoch").GetInt64().ShouldBe(1);
        node2.GetProperty("version").GetString().ShouldBe("test");
        node2.TryGetProperty("sentAt", out _).ShouldBeTrue();
        node2.GetProperty("pendingPlacements").GetInt32().ShouldBe(1);
        node2.GetProperty("score").GetDouble().ShouldBe(0.7 * 11 / 100 + 0.3 * 0.5, tolerance: 1e-9);
    }

    [Fact]
    public async Task Healthz_IsLive()
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.Client.GetAsync("/healthz").WithTimeout("GET /healthz");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("status").GetString().ShouldBe("live");
    }

    [Fact]
    public async Task Readyz_IsReadyOnceObservingAndNotAfterStop()
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.Client.GetAsync("/readyz").WithTimeout("GET /readyz");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("status").GetString().ShouldBe("ready");

        var gateway = (SwitchboardGateway)host.Services.GetService(typeof(SwitchboardGateway))!;
        await gateway.StopAsync(CancellationToken.None).WithTimeout("gateway stop");
        gateway.IsReady.ShouldBeFalse();
        var stopped = await host.Client.GetAsync("/readyz").WithTimeout("GET /readyz");
        stopped.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
    }

    [Fact]
    public async Task StoppedGateway_NoLongerObservesTheBackplane()
    {
        await using var host = await GatewayHost.StartAsync();
        var gateway = (SwitchboardGateway)host.Services.GetService(typeof(SwitchboardGateway))!;

        await gateway.StopAsync(CancellationToken.None).WithTimeout("gateway stop");
        await host.HeartbeatAsync("node-1");

        gateway.Cluster.Nodes.ShouldBeEmpty();
    }
}
