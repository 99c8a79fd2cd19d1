using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>Two distinct random candidates; the one with fewer connections per weight. Nearly as even as least-connections, without every proxy herding onto the same backend.</summary>
internal sealed class PowerOfTwoChoicesPolicy(LockedRandom random) : IBalancingPolicy
{
    public string Name => BalancingPolicies.PowerOfTwoChoices;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        if (candidates.Count == 1)
        {
            return candidates[0];
        }
        var first = random.Next(candidates.Count);
        var second = random.Next(candidates.Count - 1);
        if (second >= first)
        {
            second++;
        }
        var a = candidates[first];
        var b = candidates[second];
        return (double)a.Connections / a.Weight <= (double)b.Connections / b.Weight ? a : b;
    }
}
