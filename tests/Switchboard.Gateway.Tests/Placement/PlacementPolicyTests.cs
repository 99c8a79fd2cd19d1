using Switchboard.Gateway.Placement;
using static Switchboard.Gateway.Tests.Placement.Candidates;

namespace Switchboard.Gateway.Tests.Placement;

public sealed class PlacementPolicyTests
{
    [Fact]
    public void LeastLoaded_PrefersTheLessLoadedOfTwo()
    {
        var policy = new LeastLoadedPlacementPolicy(new Random(7));
        NodeCandidate[] candidates = [Candidate("node-1", connections: 90), Candidate("node-2", connections: 10)];

        for (var i = 0; i < 100; i++)
        {
            policy.Choose(candidates, Request)!.NodeId.ShouldBe("node-2");
        }
    }

    [Fact]
    public void LeastLoaded_ScoresCpuAsWellAsConnections()
    {
        var policy = new LeastLoadedPlacementPolicy(new Random(7));
        // Same connections; node-1 burns CPU, so node-2 has the lower score.
        NodeCandidate[] candidates = [Candidate("node-1", connections: 10, cpu: 0.9), Candidate("node-2", connections: 10, cpu: 0.1)];

        policy.Choose(candidates, Request)!.NodeId.ShouldBe("node-2");
    }

    [Fact]
    public void LeastLoaded_NeverPicksTheMostLoadedOfThree()
    {
        // Power of two choices draws two distinct nodes, so the worst one always loses its comparison.
        var policy = new LeastLoadedPlacementPolicy(new Random(3));
        NodeCandidate[] candidates = [Candidate("a", connections: 10), Candidate("b", connections: 50), Candidate("c", connections: 90)];

        var chosen = Enumerable.Range(0, 300).Select(_ => policy.Choose(candidates, Request)!.NodeId).ToHashSet();

        chosen.ShouldBe(["a", "b"], ignoreOrder: true);
    }

    [Fact]
    public void LeastLoaded_WithOneCandidate_ChoosesIt()
    {
        new LeastLoadedPlacementPolicy(new Random(1)).Choose([Candidate("only", connections: 99)], Request)!.NodeId.ShouldBe("only");
    }

    [Fact]
    public void EveryPolicy_WithNoCandidates_ReturnsNull()
    {
        new LeastLoadedPlacementPolicy(new Random(1)).Choose([], Request).ShouldBeNull();
        new LeastConnectionsPlacementPolicy(new Random(1)).Choose([], Request).ShouldBeNull();
        new RoundRobinPlacementPolicy().Choose([], Request).ShouldBeNull();
    }

    [Fact]
    public void LeastConnections_PicksTheFewestEstimatedConnections()
    {
        var policy = new LeastConnectionsPlacementPolicy(new Random(1));
        // node-2 reported fewer, but this gateway's pending placements make node-3 the emptiest.
        NodeCandidate[] candidates = [Candidate("node-1", connections: 20), Candidate("node-2", connections: 5, pending: 10), Candidate("node-3", connections: 12)];

        policy.Choose(candidates, Request)!.NodeId.ShouldBe("node-3");
    }

    [Fact]
    public void LeastConnections_BreaksTiesRandomly()
    {
        var policy = new LeastConnectionsPlacementPolicy(new Random(5));
        NodeCandidate[] candidates = [Candidate("node-1", connections: 3), Candidate("node-2", connections: 3), Candidate("node-3", connections: 4)];

        var counts = Enumerable.Range(0, 400).Select(_ => policy.Choose(candidates, Request)!.NodeId)
            .GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());

        counts.Keys.ShouldBe(["node-1", "node-2"], ignoreOrder: true);
        counts["node-1"].ShouldBeInRange(150, 250);
    }

    [Fact]
    public void RoundRobin_RotatesInNodeIdOrder()
    {
        var policy = new RoundRobinPlacementPolicy();
        NodeCandidate[] candidates = [Candidate("node-3"), Candidate("node-1"), Candidate("node-2")];

        var order = Enumerable.Range(0, 7).Select(_ => policy.Choose(candidates, Request)!.NodeId).ToArray();

        order.ShouldBe(["node-1", "node-2", "node-3", "node-1", "node-2", "node-3", "node-1"]);
    }

    [Fact]
    public void RoundRobin_ContinuesAfterTheLastNodeWhenCandidatesChange()
    {
        var policy = new RoundRobinPlacementPolicy();
        policy.Choose([Candidate("node-1"), Candidate("node-2"), Candidate("node-3")], Request)!.NodeId.ShouldBe("node-1");

        // node-2 filled up: the turn passes to the next node after node-1 that is still a candidate.
        policy.Choose([Candidate("node-1"), Candidate("node-3")], Request)!.NodeId.ShouldBe("node-3");
        policy.Choose([Candidate("node-1"), Candidate("node-2"), Candidate("node-3")], Request)!.NodeId.ShouldBe("node-1");
    }

    [Fact]
    public void LoadScore_BlendsFillRatioAndCpu()
    {
        var scorer = new LoadScorer(0.7, 0.3);

        scorer.Score(0, 100, 0).ShouldBe(0);
        scorer.Score(50, 100, 0.5).ShouldBe(0.7 * 0.5 + 0.3 * 0.5, tolerance: 1e-9);
        scorer.Score(100, 100, 1).ShouldBe(1.0, tolerance: 1e-9);
        scorer.Score(0, 0, 0).ShouldBe(0.7, tolerance: 1e-9);
    }
}
