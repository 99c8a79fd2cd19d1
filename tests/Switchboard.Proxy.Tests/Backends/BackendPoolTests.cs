using Switchboard.Backplane;
using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Tests.Backends;

public sealed class BackendPoolTests
{
    private static readonly BackendAddress B1 = new("b1", new Uri("ws://127.0.0.1:7001"), 1);
    private static readonly BackendAddress B2 = new("b2", new Uri("ws://127.0.0.1:7002"), 1);

    [Fact]
    public void ARemovedBackend_IsKeptOnlyWhileItsTunnelsLast()
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.SetStatic([B1, B2]);
        var b1 = pool.FindStatic("b1")!;
        b1.AddConnection();

        pool.SetStatic([]);
        pool.RetiredCount.ShouldBe(1, "b1, whose tunnel is open; b2 had none");

        b1.RemoveConnection();
        pool.Observe(Heartbeat("node-1"), load: 0.1);
        pool.RetiredCount.ShouldBe(0, "b1's last tunnel ended: forgotten at the next change");
    }

    [Fact]
    public void AStaticBackendAndAClusterNodeWithOneId_EachGetsBackItsOwn()
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.SetStatic([B1]);
        var b1 = pool.FindStatic("b1")!;
        b1.AddConnection();
        pool.SetStatic([]);

        // A cluster node named like the removed static backend is heard of: a new object, the static one stays kept.
        pool.Observe(Heartbeat("b1"), load: 0.1);
        pool.FindNode("b1")!.ShouldNotBeSameAs(b1);
        pool.SetStatic([B1]);

        var revived = pool.All.Single(b => b.Id == "b1" && !b.FromCluster);
        revived.ShouldBeSameAs(b1);
        revived.Connections.ShouldBe(1, "the static backend's tunnel, opened before it was removed");
    }

    [Fact]
    public void AStaticBackendAndAClusterNodeWithOneId_BothRetiredWithTunnels_EachIsKept()
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.SetStatic([B1]);
        var staticB1 = pool.FindStatic("b1")!;
        staticB1.AddConnection();
        pool.SetStatic([]);
        pool.Observe(Heartbeat("b1"), load: 0.1);
        var clusterB1 = pool.FindNode("b1")!;
        clusterB1.AddConnection();
        pool.RemoveNode("b1");
        pool.RetiredCount.ShouldBe(2, "both have an open tunnel");

        // Each comes back, with its own tunnel.
        pool.SetStatic([B1]);
        var revivedStatic = pool.FindStatic("b1")!;
        revivedStatic.ShouldBeSameAs(staticB1);
        revivedStatic.Connections.ShouldBe(1);
        pool.Observe(Heartbeat("b1"), load: 0.1);
        var revivedCluster = pool.FindNode("b1")!;
        revivedCluster.ShouldBeSameAs(clusterB1);
        revivedCluster.Connections.ShouldBe(1);
    }

    [Fact]
    public void AStaticBackendAndAClusterNodeWithOneId_AreTwoBackends_EachRemovedOnlyByItsOwnSource()
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.SetStatic([B1, B2]);
        var staticB1 = pool.FindStatic("b1")!;

        // A node named like a static backend is a backend of its own; the static one keeps its address.
        pool.Observe(Heartbeat("b1"), load: 0.1);
        var node = pool.FindNode("b1");
        node.ShouldNotBeNull("the node is not hidden by the static backend of its id");
        node.ShouldNotBeSameAs(staticB1);
        node.Url.ShouldBe(new Uri("ws://127.0.0.1:7100/v1/ws"));
        staticB1.Url.ShouldBe(B1.Url, "the node's heartbeat does not move the static backend");
        pool.All.Count(b => b.Id == "b1").ShouldBe(2);
        pool.SharedIds().ShouldBe(["b1"]);

        // The node leaves: the static backend stays, and still takes connections.
        pool.RemoveNode("b1");
        pool.FindNode("b1").ShouldBeNull();
        pool.FindStatic("b1").ShouldBeSameAs(staticB1);
        staticB1.Removed.ShouldBeFalse();
        pool.Candidates().ShouldContain(staticB1);

        // The node is back, and a reload drops the static backend: the node stays.
        pool.Observe(Heartbeat("b1"), load: 0.1);
        var back = pool.FindNode("b1")!;
        pool.SetStatic([B2]);
        pool.FindStatic("b1").ShouldBeNull();
        staticB1.Removed.ShouldBeTrue();
        pool.FindNode("b1").ShouldBeSameAs(back);
        back.Removed.ShouldBeFalse();
        pool.Candidates().ShouldContain(back);
        pool.SharedIds().ShouldBeEmpty();
    }

    private static NodeHeartbeat Heartbeat(string id) =>
        new(id, "ws://127.0.0.1:7100/v1/ws", 0, 100, 0.1, 0, false, 1, "test", DateTimeOffset.UtcNow);
}
