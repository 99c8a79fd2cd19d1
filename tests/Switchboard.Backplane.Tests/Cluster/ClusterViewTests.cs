using Switchboard.Backplane.Cluster;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.Cluster;

public sealed class ClusterViewTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly ManualTimeProvider _time = new();
    private readonly ClusterView _view;
    private readonly List<string> _removed = [];

    public ClusterViewTests()
    {
        _view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = Interval, MissedHeartbeatsBeforeEviction = 3 }, _time);
        _view.NodeRemoved += _removed.Add;
    }

    public void Dispose() => _view.Dispose();

    [Fact]
    public void Heartbeat_MakesTheNodeLive_WithItsLatestState()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", connections: 5));
        _time.Advance(TimeSpan.FromMilliseconds(300));
        var latest = TestData.Heartbeat("node-1", connections: 7);
        _view.OnHeartbeat(latest);

        _view.TryGetNode("node-1", out var state).ShouldBeTrue();
        state.Heartbeat.ShouldBe(latest);
        state.ReceivedAt.ShouldBe(_time.GetUtcNow());
        _view.Nodes.Single().NodeId().ShouldBe("node-1");
    }

    [Fact]
    public void WithoutPresenceTracking_NodesStillComeAndGo_ButNoUserIsKept()
    {
        using var view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = Interval, TrackPresence = false }, _time);
        var removed = new List<string>();
        view.NodeRemoved += removed.Add;

        view.OnHeartbeat(TestData.Heartbeat("node-1", connections: 1));
        view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        view.OnNodeLeft("node-1", epoch: 1);

        view.Directory.GetNodes("bob").ShouldBeEmpty();
        removed.ShouldBe(["node-1"]);
        view.Nodes.ShouldBeEmpty();
    }

    [Fact]
    public void Heartbeat_RaisesHeartbeatReceived()
    {
        var received = new List<NodeHeartbeat>();
        _view.HeartbeatReceived += received.Add;
        var heartbeat = TestData.Heartbeat("node-1");

        _view.OnHeartbeat(heartbeat);

        received.ShouldBe([heartbeat]);
    }

    [Fact]
    public void Presence_FillsTheDirectory()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));

        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void ANodesView_KeepsNoPresenceOfItsOwn()
    {
        using var view = new ClusterView(new ClusterViewOptions { OwnNodeId = "node-1" }, new ManualTimeProvider());

        view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        view.OnPresence(TestData.Joined("node-2", 1, "bob"));

        view.Directory.GetNodes("bob").ShouldBe(["node-2"]);
        view.Directory.CountUsers("node-1").ShouldBe(0);
    }

    [Fact]
    public void SilentNode_IsEvictedAfterThreeIntervals_AndItsUsersAfterTheGrace()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));

        // Not before three intervals have passed without news...
        _time.Advance(3 * Interval - TimeSpan.FromMilliseconds(1));
        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _removed.ShouldBeEmpty();

        // ...and by the next check after that; its users stay routable, to its queue, for the grace.
        _time.Advance(Interval + TimeSpan.FromMilliseconds(1));
        _view.TryGetNode("node-1", out _).ShouldBeFalse();
        _view.Nodes.ShouldBeEmpty();
        _removed.ShouldBe(["node-1"]);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);

        _time.Advance(new ClusterViewOptions().SilentNodeUsersKeptFor - Interval);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
        _time.Advance(Interval);
        _view.Directory.GetNodes("bob").ShouldBeEmpty();
        _view.Directory.CountUsers("node-1").ShouldBe(0);
        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void SilentNodeHeardAgain_IsLiveAgain_AndKeepsItsUsersPastTheGrace()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _time.Advance(5 * Interval);
        _removed.ShouldBe(["node-1"]);

        // The node was paused, not dead: it beats again, and on.
        for (var i = 0; i < 40; i++)
        {
            _view.OnHeartbeat(TestData.Heartbeat("node-1"));
            _time.Advance(Interval);
        }

        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void SilentNodeThatLeaves_OrRestarts_LosesItsUsersAtOnce()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.OnHeartbeat(TestData.Heartbeat("node-2", epoch: 1));
        _view.OnPresence(TestData.Joined("node-2", 1, "carol"));
        _time.Advance(5 * Interval);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
        _view.Directory.GetNodes("carol").ShouldBe(["node-2"]);

        _view.OnNodeLeft("node-1", long.MaxValue); // the broker deleted its queue
        _view.OnHeartbeat(TestData.Heartbeat("node-2", epoch: 2));

        _view.Directory.GetNodes("bob").ShouldBeEmpty();
        _view.Directory.GetNodes("carol").ShouldBeEmpty();
    }

    [Fact]
    public void Eviction_IsReportedWithTheSilenceAndTheGrace()
    {
        var evicted = new List<(string Node, TimeSpan Silence, TimeSpan KeptFor)>();
        _view.NodeEvicted += (node, silence, keptFor) => evicted.Add((node, silence, keptFor));
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));

        _time.Advance(5 * Interval);

        evicted.ShouldHaveSingleItem().ShouldSatisfyAllConditions(
            e => e.Node.ShouldBe("node-1"),
            e => e.Silence.ShouldBeInRange(3 * Interval, 3 * Interval + Interval / 4),
            e => e.KeptFor.ShouldBe(new ClusterViewOptions().SilentNodeUsersKeptFor));
    }

    [Fact]
    public void ARestartedNodesNewUsers_SurviveTheEndOfItsOldLifesGrace()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _time.Advance(5 * Interval);
        _view.IsSilent("node-1").ShouldBeTrue();

        // It comes back as a new process and beats on; the old life's grace runs out meanwhile.
        _view.OnPresence(TestData.Joined("node-1", 2, "carol"));
        for (var i = 0; i < 40; i++)
        {
            _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 2));
            _time.Advance(Interval);
        }

        _view.IsSilent("node-1").ShouldBeFalse();
        _view.Directory.GetNodes("carol").ShouldBe(["node-1"]);
        _view.Directory.GetNodes("bob").ShouldBeEmpty();
    }

    [Fact]
    public void AGraceTooLongToAddToAnyDate_KeepsTheUsers_WithoutFailing()
    {
        using var view = ViewOfBobsNodeSilentFor(10 * Interval, usersKeptFor: TimeSpan.MaxValue);

        view.TryGetNode("node-1", out _).ShouldBeFalse();
        view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void WithoutTheGrace_ASilentNodesUsersGoWithIt()
    {
        using var view = ViewOfBobsNodeSilentFor(4 * Interval, usersKeptFor: TimeSpan.Zero);

        view.TryGetNode("node-1", out _).ShouldBeFalse();
        view.Directory.GetNodes("bob").ShouldBeEmpty();
    }

    /// <summary>A view with its own grace that saw bob on node-1, after node-1 was silent for <paramref name="silence"/>.</summary>
    private ClusterView ViewOfBobsNodeSilentFor(TimeSpan silence, TimeSpan usersKeptFor)
    {
        var view = new ClusterView(new ClusterViewOptions { HeartbeatInterval = Interval, SilentNodeUsersKeptFor = usersKeptFor }, _time);
        view.OnHeartbeat(TestData.Heartbeat("node-1"));
        view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _time.Advance(silence);
        return view;
    }

    [Fact]
    public void EvictedNode_RaisesNodeRemovedOnce()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));

        _time.Advance(20 * Interval);

        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void NodeThatKeepsBeating_Stays()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        for (var i = 0; i < 20; i++)
        {
            _view.OnHeartbeat(TestData.Heartbeat("node-1"));
            _time.Advance(Interval);
        }

        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
        _removed.ShouldBeEmpty();
    }

    [Fact]
    public void NodeThatMissesTwoBeatsAtATime_Stays()
    {
        for (var i = 0; i < 10; i++)
        {
            _view.OnHeartbeat(TestData.Heartbeat("node-1"));
            _time.Advance(2 * Interval + TimeSpan.FromMilliseconds(900));
        }

        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _removed.ShouldBeEmpty();
    }

    [Fact]
    public void OnlyTheSilentNode_IsEvicted()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-2", 1, "bob", "carol"));
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));

        for (var i = 0; i < 6; i++)
        {
            _view.OnHeartbeat(TestData.Heartbeat("node-2"));
            _time.Advance(Interval);
        }

        _view.TryGetNode("node-1", out _).ShouldBeFalse();
        _view.TryGetNode("node-2", out _).ShouldBeTrue();
        _view.IsSilent("node-1").ShouldBeTrue();
        _view.IsSilent("node-2").ShouldBeFalse();
        _view.Directory.GetNodes("bob").ShouldBe(["node-1", "node-2"], "node-1's users are kept for the grace");
        _view.Directory.GetNodes("carol").ShouldBe(["node-2"]);
        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void SilentNode_IsEvictedByEvictSilentNodes()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));
        _view.Dispose(); // no timer: only the explicit call evicts
        _time.Advance(10 * Interval);
        _view.TryGetNode("node-1", out _).ShouldBeTrue();

        _view.EvictSilentNodes();

        _view.TryGetNode("node-1", out _).ShouldBeFalse();
        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void AfterThisProcessStalled_NoNodeIsEvicted_UntilItsHeartbeatHadAnIntervalToArrive()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));
        _view.OnHeartbeat(TestData.Heartbeat("node-2"));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.Dispose(); // no timer: the explicit calls play its checks
        _view.EvictSilentNodes();

        // The view's own checks stopped for 5 intervals (a pause of this process): its next check evicts nobody.
        _time.Advance(5 * Interval);
        _view.EvictSilentNodes();
        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"], "a node's users must not vanish for this process's pause");

        // node-1's heartbeat, queued during the pause, is read; node-2 stays silent past the grace.
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));
        _time.Advance(Interval / 2);
        _view.EvictSilentNodes();
        _removed.ShouldBeEmpty("still within one interval of the pause");
        _time.Advance(Interval / 2 + TimeSpan.FromMilliseconds(1));
        _view.EvictSilentNodes();

        _removed.ShouldBe(["node-2"]);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void OnNodeLeft_RemovesAtOnce()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 4));
        _view.OnPresence(TestData.Joined("node-1", 4, "bob"));

        _view.OnNodeLeft("node-1", 4);

        _view.TryGetNode("node-1", out _).ShouldBeFalse();
        _view.Directory.GetNodes("bob").ShouldBeEmpty();
        _removed.ShouldBe(["node-1"]);
    }

    [Fact]
    public void StaleEpochNodeLeft_DoesNotRemoveARestartedNode()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 2));
        _view.OnPresence(TestData.Joined("node-1", 2, "bob"));

        _view.OnNodeLeft("node-1", 1);

        _view.TryGetNode("node-1", out var state).ShouldBeTrue();
        state.Heartbeat.Epoch.ShouldBe(2);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
        _removed.ShouldBeEmpty();
    }

    [Fact]
    public void StaleEpochNodeLeft_DoesNotRemoveTheRestartedNodesPresence()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        // The restarted node announces its users before its first heartbeat reaches this observer.
        _view.OnPresence(TestData.Joined("node-1", 2, "bob"));

        _view.OnNodeLeft("node-1", 1);

        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void NewerEpochHeartbeat_ForgetsTheOldEpochsUsers()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));

        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 2));

        _view.Directory.GetNodes("bob").ShouldBeEmpty();
        _view.TryGetNode("node-1", out var state).ShouldBeTrue();
        state.Heartbeat.Epoch.ShouldBe(2);
    }

    [Fact]
    public void OlderEpochHeartbeat_IsIgnored()
    {
        var current = TestData.Heartbeat("node-1", epoch: 2, connections: 20);
        _view.OnHeartbeat(current);
        _view.OnPresence(TestData.Joined("node-1", 2, "bob"));

        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1, connections: 10));

        _view.TryGetNode("node-1", out var state).ShouldBeTrue();
        state.Heartbeat.ShouldBe(current);
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void NodeLeft_ThenHeartbeatOfANewEpoch_MakesTheNodeLiveAgain()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 1));
        _view.OnNodeLeft("node-1", 1);

        _view.OnHeartbeat(TestData.Heartbeat("node-1", epoch: 2));
        _view.OnPresence(TestData.Joined("node-1", 2, "bob"));

        _view.TryGetNode("node-1", out _).ShouldBeTrue();
        _view.Directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void Dispose_StopsTheEvictionTimer()
    {
        _view.OnHeartbeat(TestData.Heartbeat("node-1"));

        _view.Dispose();
        _time.Advance(10 * Interval);

        _view.TryGetNode("node-1", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task ObservingABackplane_BuildsTheView()
    {
        var backplane = new InMemoryBackplane();
        await backplane.ObserveAsync(_view).WithTimeout("observe");

        await backplane.PublishHeartbeatAsync(TestData.Heartbeat("node-1")).AsTask().WithTimeout("heartbeat");
        await backplane.PublishPresenceAsync(TestData.Joined("node-1", 1, "bob")).AsTask().WithTimeout("presence");
        await Eventually.TrueAsync(() => _view.Directory.GetNodes("bob").Count == 1, "bob to be in the directory");
        _view.TryGetNode("node-1", out _).ShouldBeTrue();

        await backplane.PublishNodeLeftAsync("node-1", 1).AsTask().WithTimeout("node left");
        await Eventually.TrueAsync(() => !_view.TryGetNode("node-1", out _), "node-1 to be forgotten");
        _view.Directory.GetNodes("bob").ShouldBeEmpty();

        await backplane.DisposeAsync().AsTask().WithTimeout("dispose");
    }
}

internal static class NodeStateExtensions
{
    public static string NodeId(this NodeState state) => state.Heartbeat.NodeId;
}
