using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>The candidate with the fewest connections per unit of weight; ties are broken from a random start so no backend is favoured.</summary>
internal sealed class LeastConnectionsPolicy(LockedRandom random) : IBalancingPolicy
{
    public string Name => BalancingPolicies.LeastConnections;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        var start = random.Next(candidates.Count);
        Backend best = candidates[start];
        var bestLoad = (double)best.Connections / best.Weight;
        for (var i = 1; i < candidates.Count; i++)
        {
            var backend = candidates[(start + i) % candidates.Count];
            var load = (double)backend.Connections / backend.Weight;
            if (load < bestLoad)
            {
                best = backend;
                bestLoad = load;
            }
        }
        return best;
    }
}
