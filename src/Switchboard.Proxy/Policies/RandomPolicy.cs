using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>A random candidate, each with probability proportional to its weight.</summary>
internal sealed class RandomPolicy(LockedRandom random) : IBalancingPolicy
{
    public string Name => BalancingPolicies.Random;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        var total = 0;
        foreach (var backend in candidates)
        {
            total += backend.Weight;
        }
        var ticket = random.Next(total);
        foreach (var backend in candidates)
        {
            ticket -= backend.Weight;
            if (ticket < 0)
            {
                return backend;
            }
        }
        return candidates[^1];
    }
}
