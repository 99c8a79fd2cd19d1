using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// The node with the lowest load score from its heartbeats, plus the connections this proxy placed there since the
/// heartbeat (so a burst does not all land on the node that looked emptiest). Backends without heartbeats (a static
/// list) are compared by connections instead.
/// </summary>
internal sealed class LeastLoadedPolicy(LockedRandom random) : IBalancingPolicy
{
    private readonly LeastConnectionsPolicy _fallback = new(random);

    public string Name => BalancingPolicies.LeastLoaded;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        Backend? best = null;
        var bestLoad = double.MaxValue;
        var start = random.Next(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var backend = candidates[(start + i) % candidates.Count];
            if (backend.EstimatedLoad is { } load && load < bestLoad)
            {
                best = backend;
                bestLoad = load;
            }
        }
        return best ?? _fallback.Pick(candidates, context);
    }
}
