namespace Switchboard.Gateway.Placement;

/// <summary>Fewest estimated connections, ties broken at random (see <see cref="PlacementPolicies.LeastConnections"/>).</summary>
internal sealed class LeastConnectionsPlacementPolicy(Random random) : IPlacementPolicy
{
    private readonly Lock _randomLock = new();

    public string Name => PlacementPolicies.LeastConnections;

    public NodeCandidate? Choose(IReadOnlyList<NodeCandidate> candidates, PlacementRequest request)
    {
        NodeCandidate? best = null;
        var ties = 0;
        foreach (var candidate in candidates)
        {
            if (best is null || candidate.EstimatedConnections < best.EstimatedConnections)
            {
                best = candidate;
                ties = 1;
            }
            else if (candidate.EstimatedConnections == best.EstimatedConnections)
            {
                // Reservoir sampling: the k-th tie replaces the pick with probability 1/k, so every tie is equally likely.
                ties++;
                bool replace;
                lock (_randomLock)
                {
                    replace = random.Next(ties) == 0;
                }
                if (replace)
                {
                    best = candidate;
                }
            }
        }
        return best;
    }
}
