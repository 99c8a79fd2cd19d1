using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>Rendezvous hash of a header, query parameter or cookie of the upgrade request (the client's IP when it is missing).</summary>
internal sealed class ConsistentHashPolicy(HashKey key) : IBalancingPolicy
{
    public string Name => BalancingPolicies.ConsistentHash;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context) => Rendezvous.Pick(candidates, key.ValueOf(context));
}
