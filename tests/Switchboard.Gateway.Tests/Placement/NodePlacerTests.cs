using Switchboard.Backplane.Cluster;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Placement;
using Switchboard.Tests.Common;
using static Switchboard.Gateway.Tests.Placement.Candidates;

namespace Switchboard.Gateway.Tests.Placement;

public sealed class NodePlacerTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private readonly ManualTimeProvider _time = new();
    private readonly ClusterView _view;
    private readonly PlacementTracker _tracker;

    public NodePlacerTests()
    {
        _view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = Interval, MissedHeartbeatsBeforeEviction = 3 }, _time);
        _tracker = new PlacementTracker(_view, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), _time);
    }

    [Fact]
    public void Place_WithNoLiveNodes_FailsWithNoNodes()
    {
        var result = Placer(PlacementPolicies.LeastLoaded).Place(Request);

        result.Node.ShouldBeNull();
        result.FailureCode.ShouldBe(GatewayErrorCodes.NoNodes);
    }

    [Fact]
    public void Place_WhenEveryNodeIsDrainingOrFull_FailsWithClusterFull()
    {
        _view.OnHeartbeat(Heartbeat("node-1", draining: true));
        _view.OnHeartbeat(Heartbeat("node-2", connections: 100, capacity: 100));

        Placer(PlacementPolicies.LeastLoaded).Place(Request).FailureCode.ShouldBe(GatewayErrorCodes.ClusterFull);
    }

    [Theory]
    [InlineData(PlacementPolicies.LeastLoaded)]
    [InlineData(PlacementPolicies.LeastConnections)]
    [InlineData(PlacementPolicies.RoundRobin)]
    public void Place_SkipsDrainingAndFullNodes(string policy)
    {
        _view.OnHeartbeat(Heartbeat("node-1", draining: true));
        _view.OnHeartbeat(Heartbeat("node-2", connections: 100, capacity: 100));
        _view.OnHeartbeat(Heartbeat("node-3", connections: 99, capacity: 100, cpu: 0.9));
        var placer = Placer(policy);

        placer.Place(Request).Node!.NodeId.ShouldBe("node-3");
        // The pending placement filled node-3's last slot.
        placer.Place(Request).FailureCode.ShouldBe(GatewayErrorCodes.ClusterFull);
    }

    [Fact]
    public void Place_SkipsNodesWhoseHeartbeatsStopped()
    {
        _view.OnHeartbeat(Heartbeat("node-1"));
        _view.OnHeartbeat(Heartbeat("node-2"));
        _time.Advance(TimeSpan.FromSeconds(2.5));
        _view.OnHeartbeat(Heartbeat("node-1"));
        // node-2 is now 3.5 intervals silent; the view's timer may not have evicted it yet, placement must skip it anyway.
        _time.Advance(TimeSpan.FromSeconds(1));

        var placer = Placer(PlacementPolicies.RoundRobin);
        Enumerable.Range(0, 10).Select(_ => placer.Place(Request).Node!.NodeId).Distinct().ShouldBe(["node-1"]);
    }

    [Fact]
    public void Place_CountsItsOwnPlacementsUntilHeartbeatsShowThem()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 0, capacity: 2));
        var placer = Placer(PlacementPolicies.LeastLoaded);

        placer.Place(Request).Node!.EstimatedConnections.ShouldBe(0);
        placer.Place(Request).Node!.EstimatedConnections.ShouldBe(1);
        placer.Place(Request).FailureCode.ShouldBe(GatewayErrorCodes.ClusterFull);

        // Both clients arrived, then one left: the node has room for one more.
        _view.OnHeartbeat(Heartbeat("node-1", connections: 2, capacity: 2));
        _view.OnHeartbeat(Heartbeat("node-1", connections: 1, capacity: 2));
        placer.Place(Request).Node!.NodeId.ShouldBe("node-1");
    }

    [Theory]
    [InlineData(PlacementPolicies.LeastLoaded)]
    [InlineData(PlacementPolicies.LeastConnections)]
    [InlineData(PlacementPolicies.RoundRobin)]
    public void ThreeHundredPlacements_OnThreeIdleNodes_SpreadWithinTenPercent(string policy)
    {
        foreach (var id in new[] { "node-1", "node-2", "node-3" })
        {
            _view.OnHeartbeat(Heartbeat(id, connections: 0, capacity: 10_000));
        }
        var placer = Placer(policy);

        var counts = Enumerable.Range(0, 300).Select(_ => placer.Place(Request).Node!.NodeId)
            .GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());

        counts.Count.ShouldBe(3);
        counts.Values.ShouldAllBe(c => c >= 90 && c <= 110);
    }

    [Fact]
    public void Snapshot_ListsLiveNodesByIdWithPendingAndScore()
    {
        _view.OnHeartbeat(Heartbeat("node-b", connections: 10, capacity: 100, cpu: 0.5));
        _view.OnHeartbeat(Heartbeat("node-a", connections: 0, capacity: 100, draining: true));
        _tracker.Record("node-b");

        var snapshot = Placer(PlacementPolicies.LeastLoaded).Snapshot();

        snapshot.Select(n => n.NodeId).ShouldBe(["node-a", "node-b"]);
        snapshot[1].PendingPlacements.ShouldBe(1);
        snapshot[1].Score.ShouldBe(0.7 * 11 / 100 + 0.3 * 0.5, tolerance: 1e-9);
    }

    private NodePlacer Placer(string policy) => new(
        _view,
        _tracker,
        policy switch
        {
            PlacementPolicies.LeastLoaded => new LeastLoadedPlacementPolicy(new Random(42)),
            PlacementPolicies.LeastConnections => new LeastConnectionsPlacementPolicy(new Random(42)),
            _ => new RoundRobinPlacementPolicy(),
        },
        new LoadScorer(0.7, 0.3),
        Interval * 3,
        _time);

    public void Dispose()
    {
        _tracker.Dispose();
        _view.Dispose();
    }
}
