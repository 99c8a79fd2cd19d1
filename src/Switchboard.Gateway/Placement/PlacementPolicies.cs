namespace Switchboard.Gateway.Placement;

/// <summary>The names of the built-in placement policies, as used in <see cref="GatewayOptions.Placement"/>.</summary>
public static class PlacementPolicies
{
    /// <summary>
    /// The default. Power of two choices: two distinct random candidates, the one with the lower load score wins.
    /// Randomness keeps many gateways with the same stale heartbeats from all herding onto one node.
    /// </summary>
    public const string LeastLoaded = "least-loaded";

    /// <summary>The candidate with the fewest estimated connections; ties are broken at random.</summary>
    public const string LeastConnections = "least-connections";

    /// <summary>Each candidate in turn, in node id order.</summary>
    public const string RoundRobin = "round-robin";

    /// <summary>Every built-in name.</summary>
    public static IReadOnlyList<string> All { get; } = [LeastLoaded, LeastConnections, RoundRobin];
}
