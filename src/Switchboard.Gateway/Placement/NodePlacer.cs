using Switchboard.Backplane.Cluster;
using Switchboard.Gateway.Http;

namespace Switchboard.Gateway.Placement;

/// <summary>The outcome of a placement: a node, or the error code saying why there is none.</summary>
/// <param name="Node">The chosen node, when placement succeeded.</param>
/// <param name="FailureCode"><see cref="GatewayErrorCodes.NoNodes"/> or <see cref="GatewayErrorCodes.ClusterFull"/>, else null.</param>
internal readonly record struct PlacementResult(NodeCandidate? Node, string? FailureCode);

/// <summary>
/// Turns the cluster view into candidates (live, not draining, not full, with this gateway's pending
/// placements counted), asks the configured policy, and records the placement.
/// </summary>
internal sealed class NodePlacer(ClusterView view, PlacementTracker tracker, IPlacementPolicy policy, LoadScorer scorer, TimeSpan evictAfter, TimeProvider time)
{
    public string PolicyName => policy.Name;

    public PlacementResult Place(PlacementRequest request)
    {
        var nodes = Snapshot();
        if (nodes.Count == 0)
        {
            return new(null, GatewayErrorCodes.NoNodes);
        }
        var candidates = nodes.Where(n => !n.Heartbeat.Draining && n.EstimatedConnections < n.Heartbeat.Capacity).ToArray();
        if (request.AvoidNode is { } avoided && candidates.Any(n => n.NodeId != avoided))
        {
            candidates = [.. candidates.Where(n => n.NodeId != avoided)];
        }
        if (candidates.Length == 0)
        {
            return new(null, GatewayErrorCodes.ClusterFull);
        }
        var chosen = policy.Choose(candidates, request);
        if (chosen is null)
        {
            return new(null, GatewayErrorCodes.ClusterFull);
        }
        tracker.Record(chosen.NodeId);
        return new(chosen, null);
    }

    /// <summary>Every live node with its pending placements and score, ordered by node id.</summary>
    public IReadOnlyList<NodeCandidate> Snapshot()
    {
        // The view evicts silent nodes only on its timer tick; skip them here too so a node is never chosen
        // in the up-to-one-interval window between going silent and being evicted.
        var cutoff = time.GetUtcNow() - evictAfter;
        return view.Nodes
            .Where(s => s.ReceivedAt >= cutoff)
            .Select(s =>
            {
                var pending = tracker.Pending(s.Heartbeat.NodeId);
                var score = scorer.Score(s.Heartbeat.Connections + pending, s.Heartbeat.Capacity, s.Heartbeat.Cpu);
                return new NodeCandidate(s.Heartbeat, pending, score);
            })
            .OrderBy(c => c.NodeId, StringComparer.Ordinal)
            .ToArray();
    }
}
