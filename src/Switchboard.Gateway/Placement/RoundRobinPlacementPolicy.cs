namespace Switchboard.Gateway.Placement;

/// <summary>Each candidate in turn, in ordinal node id order (see <see cref="PlacementPolicies.RoundRobin"/>).</summary>
internal sealed class RoundRobinPlacementPolicy : IPlacementPolicy
{
    private readonly Lock _lock = new();
    private string? _last;

    public string Name => PlacementPolicies.RoundRobin;

    public NodeCandidate? Choose(IReadOnlyList<NodeCandidate> candidates, PlacementRequest request)
    {
        if (candidates.Count == 0)
        {
            return null;
        }
        lock (_lock)
        {
            // Continue after the last node chosen rather than at an index, so the turn order survives
            // nodes joining, leaving or filling up between calls.
            NodeCandidate? next = null;
            NodeCandidate? lowest = null;
            foreach (var candidate in candidates)
            {
                if (lowest is null || string.CompareOrdinal(candidate.NodeId, lowest.NodeId) < 0)
                {
                    lowest = candidate;
                }
                if ((_last is null || string.CompareOrdinal(candidate.NodeId, _last) > 0) &&
                    (next is null || string.CompareOrdinal(candidate.NodeId, next.NodeId) < 0))
                {
                    next = candidate;
                }
            }
            var chosen = next ?? lowest!;
            _last = chosen.NodeId;
            return chosen;
        }
    }
}
