using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>The same client IP (or IP:port) goes to the same backend while the set of backends is unchanged; rendezvous-hashed, so a change moves only its share.</summary>
internal sealed class SourceHashPolicy(HashKey key) : IBalancingPolicy
{
    public string Name => BalancingPolicies.SourceHash;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context) => Rendezvous.Pick(candidates, key.ValueOf(context));
}
