using Switchboard.Backplane;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Cluster;
using Switchboard.Proxy.Policies;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Cluster;

public sealed class ClusterBackendsTests
{
    [Fact]
    public async Task NodesFromHeartbeats_AreBackends_ADrainingNodeGetsNothingNew_ButKeepsItsTunnels()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        await using var backplane = new InMemoryBackplane();
        var options = Options();
        options.Policy = BalancingPolicies.LeastLoaded;
        await using var proxy = await ProxyServer.StartAsync(options, backplane);
        await backplane.PublishHeartbeatAsync(Heartbeat("node-1", b1, connections: 10, draining: false));
        await backplane.PublishHeartbeatAsync(Heartbeat("node-2", b2, connections: 50, draining: false));
        await WaitAsync(() => proxy.Backends.Count == 2, "both nodes to become backends");

        using var onNode1 = await ConnectAsync(proxy, "/?token=t");
        (await onNode1.WhoAmIAsync()).ShouldBe("b1"); // least loaded
        b1.Requests.Single().Path.ShouldBe("/v1/ws");
        b1.Requests.Single().Query.ShouldBe("?token=t");

        await backplane.PublishHeartbeatAsync(Heartbeat("node-1", b1, connections: 11, draining: true));
        await WaitAsync(() => proxy.Backends.Single(b => b.Backend == "node-1").State == "draining", "node-1 to be draining");
        for (var i = 0; i < 3; i++)
        {
            using var socket = await ConnectAsync(proxy);
            (await socket.WhoAmIAsync()).ShouldBe("b2");
        }
        (await onNode1.WhoAmIAsync()).ShouldBe("b1");

        await backplane.PublishNodeLeftAsync("node-2", epoch: 1);
        await WaitAsync(() => proxy.Backends.Count == 1, "node-2 to be forgotten");
        var refused = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());
        refused.ShouldStartWith("HTTP/1.1 503");
    }

    [Fact]
    public async Task ASilentNode_StaysABackendThroughLateHeartbeats_AndIsForgottenAfterTen()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var backplane = new InMemoryBackplane();
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = await ProxyServer.StartAsync(Options(), backplane, timeProvider: time);
        await backplane.PublishHeartbeatAsync(Heartbeat("node-1", b1, connections: 0, draining: false, at: time.GetUtcNow()));
        await WaitAsync(() => proxy.Backends.Count == 1, "node-1 to become a backend");

        // Three missed heartbeats evict a node from the gateway's view; the proxy keeps it, so its tickets still reach it.
        time.Advance(TimeSpan.FromSeconds(ClusterBackends.MissedHeartbeatsBeforeRemoval - 1));
        proxy.Backends.Count.ShouldBe(1);
        using (var socket = await ConnectAsync(proxy))
        {
            (await socket.WhoAmIAsync()).ShouldBe("b1");
        }

        time.Advance(TimeSpan.FromSeconds(2));
        await WaitAsync(() => proxy.Backends.Count == 0, "node-1 to be forgotten after ten silent intervals");
    }

    [Fact]
    public async Task ANodeThatLeavesAndComesBack_WhileATunnelToItIsOpen_StillCountsThatTunnel()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        await using var backplane = new InMemoryBackplane();
        var options = Options();
        options.Policy = BalancingPolicies.LeastConnections;
        await using var proxy = await ProxyServer.StartAsync(options, backplane);
        await backplane.PublishHeartbeatAsync(Heartbeat("node-1", b1, connections: 0, draining: false));
        await WaitAsync(() => proxy.Backends.Count == 1, "node-1 to become a backend");
        var onNode1 = await ConnectAsync(proxy);
        (await onNode1.WhoAmIAsync()).ShouldBe("b1");

        // Node-1 leaves (its tunnel goes on), then is heard of again, and node-2 joins.
        await backplane.PublishNodeLeftAsync("node-1", epoch: 1);
        await WaitAsync(() => proxy.Backends.Count == 0, "node-1 to be forgotten");
        await backplane.PublishHeartbeatAsync(Heartbeat("node-1", b1, connections: 1, draining: false));
        await backplane.PublishHeartbeatAsync(Heartbeat("node-2", b2, connections: 0, draining: false));
        await WaitAsync(() => proxy.Backends.Count == 2, "node-1 back, and node-2");

        proxy.Backends.Single(b => b.Backend == "node-1").Connections.ShouldBe(1, "the tunnel opened before node-1 left");
        for (var i = 0; i < 5; i++)
        {
            // Least connections: node-1 holds one, so node-2 gets every one of these (each ended before the next).
            using (var socket = await ConnectAsync(proxy))
            {
                (await socket.WhoAmIAsync()).ShouldBe("b2");
            }
            await WaitAsync(() => proxy.Backends.Single(b => b.Backend == "node-2").Connections == 0, "the tunnel to node-2 to end");
        }
        onNode1.Abort();
        onNode1.Dispose();
        await WaitAsync(() => proxy.Backends.All(b => b.Connections == 0), "every count back to 0 once every tunnel ended");
    }

    private static NodeHeartbeat Heartbeat(string id, TestBackend backend, int connections, bool draining, DateTimeOffset? at = null) =>
        new(id, backend.Spec + "/v1/ws", connections, 100, 0.1, 0, draining, 1, "test", at ?? DateTimeOffset.UtcNow);
}
