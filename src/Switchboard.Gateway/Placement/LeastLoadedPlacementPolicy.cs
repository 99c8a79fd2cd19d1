namespace Switchboard.Gateway.Placement;

/// <summary>Power of two choices on the load score (see <see cref="PlacementPolicies.LeastLoaded"/>).</summary>
internal sealed class LeastLoadedPlacementPolicy(Random random) : IPlacementPolicy
{
    private readonly Lock _randomLock = new();

    public string Name => PlacementPolicies.LeastLoaded;

    public NodeCandidate? Choose(IReadOnlyList<NodeCandidate> candidates, PlacementRequest request)
    {
        switch (candidates.Count)
        {
            case 0:
                return null;
            case 1:
                return candidates[0];
        }
        int first, second;
        // A seeded Random (tests) is not thread-safe; the lock costs nothing next to an HTTP request.
        lock (_randomLock)
        {
            first = random.Next(candidates.Count);
            second = random.Next(candidates.Count - 1);
        }
        // Draw the second from the remaining n-1 slots so the two are always distinct.
        if (second >= first)
        {
            second++;
        }
        return candidates[second].Score < candidates[first].Score ? candidates[second] : candidates[first];
    }
}
