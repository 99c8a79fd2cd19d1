namespace Switchboard.Gateway.Rebalance;

/// <summary>
/// Settings of the rebalancer (configuration section <c>Gateway:Rebalance</c>). Load is a node's connections over its
/// capacity; the mean is the cluster's total connections over its total capacity (ready nodes only).
/// </summary>
public sealed class RebalancerOptions
{
    /// <summary>Whether this gateway takes part in rebalancing (one gateway acts at a time across the cluster).</summary>
    public bool Enabled { get; set; }

    /// <summary>How often the active rebalancer looks at the cluster.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A node is overloaded when its load is above the mean by more than this fraction (0.2: 20 % above).</summary>
    public double Threshold { get; set; } = 0.2;

    /// <summary>
    /// An overloaded node is asked to come down to the mean plus this fraction; below <see cref="Threshold"/>, so a
    /// node that was just evened out is not at the edge again at once.
    /// </summary>
    public double Hysteresis { get; set; } = 0.05;

    /// <summary>After asking a node to move connections, leave it alone for this long (its clients move, heartbeats catch up).</summary>
    public TimeSpan Cooldown { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The most connections one request asks a node to move.</summary>
    public int MaxMovesPerRequest { get; set; } = 1000;

    /// <summary>Nodes with fewer connections than this are never asked (moving a handful is noise).</summary>
    public int MinConnections { get; set; } = 10;
}
