using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// Chooses the backend for a new connection. Called concurrently from many accepts; must not block.
/// </summary>
internal interface IBalancingPolicy
{
    /// <summary>The policy's name, one of <see cref="BalancingPolicies"/>.</summary>
    string Name { get; }

    /// <summary>The cookie this policy wants set on the 101 response (the chosen backend's id), or null.</summary>
    string? AffinityCookie => null;

    /// <summary>Picks one of <paramref name="candidates"/> (never empty), or null to refuse the connection.</summary>
    Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context);
}
