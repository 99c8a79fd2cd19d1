using System.Text.Json;
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

    [Fact]
    public async Task AStaticBackendAndAClusterNodeWithOneId_AreBothBackends_ATicketGoesToTheNode_AndEachIsRemovedOnlyByItsOwnSource()
    {
        await using var staticBackend = await TestBackend.StartAsync("static");
        await using var node = await TestBackend.StartAsync("node");
        await using var backplane = new InMemoryBackplane();
        var log = new RecordingLogger();
        var options = Options(staticBackend);
        options.Admin = "127.0.0.1:0";
        await using var proxy = await ProxyServer.StartAsync(options, backplane, new RecordingLoggerFactory(log));
        // A node whose id is the static backend's (host:port): a node id set to an address, say.
        var id = staticBackend.Url.Authority;

        await backplane.PublishHeartbeatAsync(Heartbeat(id, node, connections: 0, draining: false));
        await WaitAsync(() => proxy.Backends.Count == 2, "the node to join beside the static backend of its id");
        proxy.Backends.Select(b => (b.Backend, b.Origin, b.Url)).OrderBy(b => b.Origin).ShouldBe(
            [(id, "cluster", node.Spec + "/v1/ws"), (id, "static", staticBackend.Url.ToString())]);
        var warning = log.Entries.Single(e => e.EventName == "BackendIdShared");
        warning.Level.ShouldBe(Microsoft.Extensions.Logging.LogLevel.Warning);
        warning.Message.ShouldContain(id);
        using (var http = new HttpClient { BaseAddress = new Uri($"http://{proxy.AdminEndPoint}"), Timeout = Patience })
        {
            var metrics = await http.GetStringAsync("/metrics");
            metrics.ShouldContain($"switchboard_proxy_backend_up{{backend=\"{id}\",origin=\"static\"}} 1\n");
            metrics.ShouldContain($"switchboard_proxy_backend_up{{backend=\"{id}\",origin=\"cluster\"}} 1\n");
            using var json = JsonDocument.Parse(await http.GetStringAsync("/admin/backends"));
            json.RootElement.GetProperty("backends").EnumerateArray().Select(b => b.GetProperty("origin").GetString()).Order().ShouldBe(["cluster", "static"]);
        }

        // A ticket names a node: it goes to the node, never to the static backend of that id.
        for (var i = 0; i < 3; i++)
        {
            using var socket = await ConnectAsync(proxy, "/?token=" + Ticket(id));
            (await socket.WhoAmIAsync()).ShouldBe("node");
        }

        // The node leaves: the static backend stays and takes the clients.
        await backplane.PublishNodeLeftAsync(id, epoch: 1);
        await WaitAsync(() => proxy.Backends.Count == 1, "the node to be forgotten");
        proxy.Backends.Single().Origin.ShouldBe("static");
        using (var socket = await ConnectAsync(proxy, "/?token=" + Ticket(id)))
        {
            (await socket.WhoAmIAsync()).ShouldBe("static", "the ticket's node is gone: the fallback picks the static backend");
        }

        // The node is back, and a reload drops the static backend: the node stays.
        await backplane.PublishHeartbeatAsync(Heartbeat(id, node, connections: 0, draining: false));
        await WaitAsync(() => proxy.Backends.Count == 2, "the node to be back");
        proxy.Reload(new ProxyOptions { Listen = options.Listen, Admin = options.Admin });
        proxy.Backends.Select(b => b.Origin).ShouldBe(["cluster"]);
        using (var socket = await ConnectAsync(proxy))
        {
            (await socket.WhoAmIAsync()).ShouldBe("node");
        }

        // A reload that brings the static backend back warns again.
        proxy.Reload(new ProxyOptions { Listen = options.Listen, Admin = options.Admin, Backends = [staticBackend.Spec] });
        proxy.Backends.Count.ShouldBe(2);
        log.Count("BackendIdShared").ShouldBe(3, "once when the node first joined, once when it came back, once at the reload");
    }

    /// <summary>A ticket naming <paramref name="nodeId"/>: the proxy reads its payload unverified, so the signature is no matter.</summary>
    private static string Ticket(string nodeId)
    {
        var payload = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["sub"] = "alice", ["node"] = nodeId }))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return $"eyJhbGciOiJIUzI1NiJ9.{payload}.not-checked";
    }

    private static NodeHeartbeat Heartbeat(string id, TestBackend backend, int connections, bool draining, DateTimeOffset? at = null) =>
        new(id, backend.Spec + "/v1/ws", connections, 100, 0.1, 0, draining, 1, "test", at ?? DateTimeOffset.UtcNow);
}
