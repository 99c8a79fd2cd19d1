using Switchboard.Backplane.Presence;

namespace Switchboard.Backplane.Tests.Presence;

public class PresenceDirectoryTests
{
    private readonly PresenceDirectory _directory = new();

    [Fact]
    public void UnknownUser_HasNoNodes()
    {
        _directory.GetNodes("nobody").ShouldBeEmpty();
        _directory.CountUsers("node-x").ShouldBe(0);
    }

    [Fact]
    public void Join_MakesUserPresentOnNode()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "carol"));

        _directory.GetNodes("bob").ShouldBe(["node-1"]);
        _directory.GetNodes("carol").ShouldBe(["node-1"]);
        _directory.CountUsers("node-1").ShouldBe(2);
    }

    [Fact]
    public void Snapshot_ReplacesTheNodesUsers_AndLeavesOtherNodesAlone()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "carol"));
        _directory.Apply(TestData.Joined("node-2", 1, "bob"));

        _directory.Apply(new PresenceDelta("node-1", 1, ["carol", "dave"], [], IsSnapshot: true));

        _directory.GetNodes("bob").ShouldBe(["node-2"]);
        _directory.GetNodes("carol").ShouldBe(["node-1"]);
        _directory.GetNodes("dave").ShouldBe(["node-1"]);
        _directory.CountUsers("node-1").ShouldBe(2);
    }

    [Fact]
    public void Snapshot_RestoresANodeThatWasRemoved()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        _directory.RemoveNode("node-1");

        _directory.Apply(new PresenceDelta("node-1", 1, ["bob"], [], IsSnapshot: true));

        _directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void Leave_RemovesUserFromNode()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "carol"));

        _directory.Apply(TestData.Left("node-1", 1, "bob"));

        _directory.GetNodes("bob").ShouldBeEmpty();
        _directory.GetNodes("carol").ShouldBe(["node-1"]);
        _directory.CountUsers("node-1").ShouldBe(1);
    }

    [Fact]
    public void JoinAndLeaveInOneDelta_AreBothApplied()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));

        _directory.Apply(new PresenceDelta("node-1", 1, ["carol"], ["bob"]));

        _directory.GetNodes("bob").ShouldBeEmpty();
        _directory.GetNodes("carol").ShouldBe(["node-1"]);
    }

    [Fact]
    public void UserOnSeveralNodes_IsListedOnEach()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        _directory.Apply(TestData.Joined("node-2", 1, "bob"));
        _directory.Apply(TestData.Joined("node-3", 9, "bob"));

        _directory.GetNodes("bob").ShouldBe(["node-1", "node-2", "node-3"], ignoreOrder: true);

        _directory.Apply(TestData.Left("node-2", 1, "bob"));

        _directory.GetNodes("bob").ShouldBe(["node-1", "node-3"], ignoreOrder: true);
    }

    [Fact]
    public void RepeatedJoin_ListsTheNodeOnce()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "bob"));

        _directory.GetNodes("bob").ShouldBe(["node-1"]);
        _directory.CountUsers("node-1").ShouldBe(1);
    }

    [Fact]
    public void LeaveOfAbsentUser_IsHarmless()
    {
        _directory.Apply(TestData.Joined("node-2", 1, "bob"));

        _directory.Apply(TestData.Left("node-1", 1, "bob", "nobody"));

        _directory.GetNodes("bob").ShouldBe(["node-2"]);
    }

    [Fact]
    public void UserIds_AreCaseSensitive()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "Bob"));

        _directory.GetNodes("bob").ShouldBeEmpty();
        _directory.GetNodes("Bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void NewerEpoch_ReplacesTheNodesOldEntries()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "carol"));
        _directory.Apply(TestData.Joined("node-2", 1, "bob"));

        _directory.Apply(TestData.Joined("node-1", 2, "dave"));

        _directory.GetNodes("bob").ShouldBe(["node-2"]);
        _directory.GetNodes("carol").ShouldBeEmpty();
        _directory.GetNodes("dave").ShouldBe(["node-1"]);
        _directory.CountUsers("node-1").ShouldBe(1);
    }

    [Fact]
    public void NewerEpoch_WithOnlyLeaves_StillForgetsOldEntries()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));

        _directory.Apply(TestData.Left("node-1", 2, "someone"));

        _directory.GetNodes("bob").ShouldBeEmpty();
    }

    [Fact]
    public void OlderEpoch_IsIgnored()
    {
        _directory.Apply(TestData.Joined("node-1", 2, "bob"));

        _directory.Apply(TestData.Joined("node-1", 1, "carol"));
        _directory.Apply(TestData.Left("node-1", 1, "bob"));

        _directory.GetNodes("bob").ShouldBe(["node-1"]);
        _directory.GetNodes("carol").ShouldBeEmpty();
    }

    [Fact]
    public void ObserveEpoch_Newer_ForgetsTheNodesUsers()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));

        _directory.ObserveEpoch("node-1", 2);

        _directory.GetNodes("bob").ShouldBeEmpty();
        // and the node now accepts deltas of the new epoch only
        _directory.Apply(TestData.Joined("node-1", 1, "stale"));
        _directory.Apply(TestData.Joined("node-1", 2, "fresh"));
        _directory.GetNodes("stale").ShouldBeEmpty();
        _directory.GetNodes("fresh").ShouldBe(["node-1"]);
    }

    [Fact]
    public void ObserveEpoch_SameOrOlder_KeepsTheNodesUsers()
    {
        _directory.Apply(TestData.Joined("node-1", 5, "bob"));

        _directory.ObserveEpoch("node-1", 5);
        _directory.ObserveEpoch("node-1", 4);

        _directory.GetNodes("bob").ShouldBe(["node-1"]);
    }

    [Fact]
    public void RemoveNode_ForgetsOnlyThatNodesUsers()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob", "carol"));
        _directory.Apply(TestData.Joined("node-2", 1, "bob", "dave"));

        _directory.RemoveNode("node-1");

        _directory.GetNodes("bob").ShouldBe(["node-2"]);
        _directory.GetNodes("carol").ShouldBeEmpty();
        _directory.GetNodes("dave").ShouldBe(["node-2"]);
        _directory.CountUsers("node-1").ShouldBe(0);
        _directory.CountUsers("node-2").ShouldBe(2);
    }

    [Fact]
    public void RemoveNode_Unknown_IsHarmless()
    {
        _directory.Apply(TestData.Joined("node-2", 1, "bob"));

        _directory.RemoveNode("node-1");

        _directory.GetNodes("bob").ShouldBe(["node-2"]);
    }

    [Fact]
    public void RemovedNode_CanComeBack()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        _directory.RemoveNode("node-1");

        _directory.Apply(TestData.Joined("node-1", 2, "carol"));

        _directory.GetNodes("carol").ShouldBe(["node-1"]);
        _directory.GetNodes("bob").ShouldBeEmpty();
    }

    [Fact]
    public void GetNodes_ReturnsASnapshot_UnaffectedByLaterChanges()
    {
        _directory.Apply(TestData.Joined("node-1", 1, "bob"));
        var before = _directory.GetNodes("bob");

        _directory.Apply(TestData.Joined("node-2", 1, "bob"));
        _directory.Apply(TestData.Left("node-1", 1, "bob"));

        before.ShouldBe(["node-1"]);
        _directory.GetNodes("bob").ShouldBe(["node-2"]);
    }

    [Fact]
    public async Task ConcurrentDeltasFromManyNodes_EndConsistent()
    {
        const int nodes = 8;
        const int users = 500;

        await Task.WhenAll(Enumerable.Range(0, nodes).Select(n => Task.Run(() =>
        {
            for (var u = 0; u < users; u++)
            {
                _directory.Apply(TestData.Joined($"node-{n}", 1, $"user-{u}"));
                // Readers run alongside writers.
                _directory.GetNodes($"user-{u}").Count.ShouldBeGreaterThan(0);
            }
            for (var u = 0; u < users; u += 2)
            {
                _directory.Apply(TestData.Left($"node-{n}", 1, $"user-{u}"));
            }
        }))).WaitAsync(TimeSpan.FromSeconds(30));

        for (var u = 0; u < users; u++)
        {
            _directory.GetNodes($"user-{u}").Count.ShouldBe(u % 2 == 0 ? 0 : nodes, $"user-{u}");
        }
        for (var n = 0; n < nodes; n++)
        {
            _directory.CountUsers($"node-{n}").ShouldBe(users / 2);
        }
    }
}
