using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Cluster;

public sealed class RealClusterTests
{
    [Fact]
    public async Task ProxyInFrontOfRealNodes_FollowsTheirHeartbeats_AndTunnelsTheProtocol()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2);
        await using var proxy = await ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0", Policy = "least-loaded" }, cluster.Cluster.Backplane);
        await WaitAsync(() => proxy.Backends.Count == 2, "both nodes' heartbeats");
        proxy.Backends.Select(b => b.Url).Order().ShouldBe(cluster.Cluster.Nodes.Select(n => n.WebSocketUrl.ToString()).Order());

        await cluster.Cluster.StopNodeAsync("node-2");
        await WaitAsync(() => proxy.Backends.Count == 1, "node-2 to leave the backends");

        // The node's URL has the path /v1/ws, so a client dialling the proxy's root reaches it with its ticket.
        var ticket = cluster.TicketUrl("alice", "node-1").Query;
        await using var client = await RawClient.OpenAsync(proxy.WsUrl("/" + ticket));
        var welcome = await client.ReceiveAsync("welcome");
        welcome.GetProperty("node").GetString().ShouldBe("node-1");
        proxy.Backends.Single().Connections.ShouldBe(1);
    }
}
