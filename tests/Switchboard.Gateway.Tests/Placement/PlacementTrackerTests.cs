using Switchboard.Backplane.Cluster;
using Switchboard.Gateway.Placement;
using Switchboard.Tests.Common;
using static Switchboard.Gateway.Tests.Placement.Candidates;

namespace Switchboard.Gateway.Tests.Placement;

public sealed class PlacementTrackerTests : IDisposable
{
    private static readonly TimeSpan PendingTime = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan TicketLifetime = TimeSpan.FromSeconds(30);
    private readonly ManualTimeProvider _time = new();
    private readonly ClusterView _view;
    private readonly PlacementTracker _tracker;

    public PlacementTrackerTests()
    {
        _view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = TimeSpan.FromHours(1) }, _time);
        _tracker = new PlacementTracker(_view, PendingTime, TicketLifetime, _time);
    }

    [Fact]
    public void Record_CountsPendingPlacementsPerNode()
    {
        _view.OnHeartbeat(Heartbeat("node-1"));
        _tracker.Record("node-1");
        _tracker.Record("node-1");
        _tracker.Record("node-2");

        _tracker.Pending("node-1").ShouldBe(2);
        _tracker.Pending("node-2").ShouldBe(1);
        _tracker.Pending("node-3").ShouldBe(0);
    }

    [Fact]
    public void HeartbeatWithoutArrivals_SettlesAsManyPendingAsConnectionsGrew()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 10));
        for (var i = 0; i < 5; i++)
        {
            _tracker.Record("node-1");
        }

        _view.OnHeartbeat(Heartbeat("node-1", connections: 13));

        _tracker.Pending("node-1").ShouldBe(2);
    }

    [Fact]
    public void Heartbeat_SettlesOnePendingPerArrival_EvenWhenThoseConnectionsHaveLeftAgain()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 10, arrivals: 100));
        for (var i = 0; i < 5; i++)
        {
            _tracker.Record("node-1");
        }

        // Four of the five came and went between the heartbeats; the fifth is on its way.
        _view.OnHeartbeat(Heartbeat("node-1", connections: 10, arrivals: 104));

        _tracker.Pending("node-1").ShouldBe(1);
    }

    [Fact]
    public void ATrackerMadeAfterTheNodesFirstHeartbeats_SettlesItsFirstPlacement()
    {
        // The gateway makes its tracker on the first placement, when the view has long heard from the node.
        using var view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = TimeSpan.FromHours(1) }, _time);
        view.OnHeartbeat(Heartbeat("node-1", connections: 2, arrivals: 7));
        using var tracker = new PlacementTracker(view, PendingTime, TicketLifetime, _time);
        tracker.Record("node-1");

        view.OnHeartbeat(Heartbeat("node-1", connections: 2, arrivals: 8));

        tracker.Pending("node-1").ShouldBe(0);
    }

    [Fact]
    public void HeartbeatOfANewEpoch_StartsArrivalsAfresh()
    {
        _view.OnHeartbeat(Heartbeat("node-1", epoch: 1, arrivals: 500));
        _tracker.Record("node-1");
        _tracker.Record("node-1");

        _view.OnHeartbeat(Heartbeat("node-1", epoch: 2, arrivals: 3));
        _tracker.Pending("node-1").ShouldBe(2);

        _view.OnHeartbeat(Heartbeat("node-1", epoch: 2, arrivals: 4));
        _tracker.Pending("node-1").ShouldBe(1);
    }

    [Fact]
    public void HeartbeatWithoutArrivals_WithoutGrowth_SettlesNothing()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 10));
        _tracker.Record("node-1");

        _view.OnHeartbeat(Heartbeat("node-1", connections: 10));
        _view.OnHeartbeat(Heartbeat("node-1", connections: 7));

        _tracker.Pending("node-1").ShouldBe(1);
    }

    [Fact]
    public void Heartbeat_GrowthBeyondPending_NeverGoesBelowZero()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 0));
        _tracker.Record("node-1");

        // Other gateways placed connections there too.
        _view.OnHeartbeat(Heartbeat("node-1", connections: 50));
        _tracker.Pending("node-1").ShouldBe(0);

        _tracker.Record("node-1");
        _tracker.Pending("node-1").ShouldBe(1);
    }

    [Fact]
    public void Heartbeat_SettlesTheOldestPendingFirst()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 0));
        _tracker.Record("node-1");
        _time.Advance(TimeSpan.FromSeconds(20));
        _tracker.Record("node-1");

        _view.OnHeartbeat(Heartbeat("node-1", connections: 1));
        // Had the newer one been settled, the older would expire here.
        _time.Advance(TimeSpan.FromSeconds(15));

        _tracker.Pending("node-1").ShouldBe(1);
    }

    [Fact]
    public void Pending_ExpiresAfterThePendingTime()
    {
        _view.OnHeartbeat(Heartbeat("node-1"));
        _tracker.Record("node-1");
        _time.Advance(TimeSpan.FromSeconds(10));
        _tracker.Record("node-1");

        _time.Advance(TimeSpan.FromSeconds(19));
        _tracker.Pending("node-1").ShouldBe(2);

        _time.Advance(TimeSpan.FromSeconds(2));
        _tracker.Pending("node-1").ShouldBe(1);

        _time.Advance(TimeSpan.FromSeconds(10));
        _tracker.Pending("node-1").ShouldBe(0);
    }

    [Fact]
    public void ALateArrival_SettlesALapsedPlacement_NotAnotherStillOnItsWay()
    {
        using var tracker = new PlacementTracker(_view, TimeSpan.FromSeconds(5), TicketLifetime, _time);
        _view.OnHeartbeat(Heartbeat("node-1", arrivals: 10));
        // Batch A: two tickets whose clients are slow to dial.
        tracker.Record("node-1");
        tracker.Record("node-1");
        _time.Advance(TimeSpan.FromSeconds(6));
        tracker.Pending("node-1").ShouldBe(0, "A's placements lapsed");
        // Batch B: two more, whose clients have not dialled yet.
        tracker.Record("node-1");
        tracker.Record("node-1");

        // A's clients arrive, their tickets still good.
        _time.Advance(TimeSpan.FromSeconds(1));
        _view.OnHeartbeat(Heartbeat("node-1", arrivals: 12));

        tracker.Pending("node-1").ShouldBe(2, "B's clients are still on their way");
    }

    [Fact]
    public void ALapsedPlacement_IsForgottenOnceItsTicketExpiredOnTheNode()
    {
        using var tracker = new PlacementTracker(_view, TimeSpan.FromSeconds(5), TicketLifetime, _time);
        _view.OnHeartbeat(Heartbeat("node-1", arrivals: 10));
        tracker.Record("node-1");
        _time.Advance(TicketLifetime + PlacementTracker.TicketClockSkew);
        tracker.Record("node-1");

        // The first ticket can no longer be used: this arrival is the second's.
        _view.OnHeartbeat(Heartbeat("node-1", arrivals: 11));

        tracker.Pending("node-1").ShouldBe(0);
    }

    [Fact]
    public void NodeRemoved_ForgetsItsPendingPlacements()
    {
        _view.OnHeartbeat(Heartbeat("node-1"));
        _tracker.Record("node-1");

        _view.OnNodeLeft("node-1", epoch: 1);

        _tracker.Pending("node-1").ShouldBe(0);
    }

    [Fact]
    public void HeartbeatOfANewEpoch_IsANewBaselineNotGrowth()
    {
        _view.OnHeartbeat(Heartbeat("node-1", connections: 0, epoch: 1));
        _tracker.Record("node-1");

        _view.OnHeartbeat(Heartbeat("node-1", connections: 40, epoch: 2));
        _tracker.Pending("node-1").ShouldBe(1);

        _view.OnHeartbeat(Heartbeat("node-1", connections: 41, epoch: 2));
        _tracker.Pending("node-1").ShouldBe(0);
    }

    public void Dispose()
    {
        _tracker.Dispose();
        _view.Dispose();
    }
}
