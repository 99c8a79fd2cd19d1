using Switchboard.Backplane;

namespace Switchboard.Gateway.Placement;

/// <summary>Chooses the node a new connection goes to.</summary>
/// <remarks>
/// Implementations are singletons called concurrently from many requests, so they must be thread-safe.
/// Register more with <c>services.AddSingleton&lt;IPlacementPolicy, MyPolicy&gt;()</c> and select them by
/// <see cref="Name"/> in <see cref="GatewayOptions.Placement"/>.
/// </remarks>
public interface IPlacementPolicy
{
    /// <summary>The name configuration selects this policy by; built-in names are in <see cref="PlacementPolicies"/>.</summary>
    string Name { get; }

    /// <summary>
    /// Picks one of <paramref name="candidates"/>, or null when there are none. The candidates are already
    /// filtered: live, not draining, and with fewer estimated connections than capacity.
    /// </summary>
    NodeCandidate? Choose(IReadOnlyList<NodeCandidate> candidates, PlacementRequest request);
}

/// <summary>A node that may take a new connection, as the gateway sees it now.</summary>
/// <param name="Heartbeat">The node's latest heartbeat.</param>
/// <param name="PendingPlacements">Placements this gateway made into the node that its heartbeats do not show yet.</param>
/// <param name="Score">The load score (see <see cref="GatewayOptions"/>) with <see cref="EstimatedConnections"/>; lower is better.</param>
public sealed record NodeCandidate(NodeHeartbeat Heartbeat, int PendingPlacements, double Score)
{
    /// <summary>The node's id.</summary>
    public string NodeId => Heartbeat.NodeId;

    /// <summary>Connections the node reported plus this gateway's pending placements into it.</summary>
    public int EstimatedConnections => Heartbeat.Connections + PendingPlacements;
}

/// <summary>What is being placed.</summary>
/// <param name="UserId">The authenticated user (for policies that hash or stick on it).</param>
/// <param name="AvoidNode">A node to place elsewhere than when another node can take the connection, or null.</param>
public sealed record PlacementRequest(string UserId, string? AvoidNode = null);
