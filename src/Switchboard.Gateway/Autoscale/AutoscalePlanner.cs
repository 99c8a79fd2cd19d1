using Switchboard.Backplane;

namespace Switchboard.Gateway.Autoscale;

/// <summary>What one look at the cluster decided.</summary>
public enum AutoscaleAction
{
    /// <summary>The farm is the right size, or the load says nothing yet.</summary>
    None,

    /// <summary>More nodes are wanted but the cooldown of the last scaling has not passed.</summary>
    Wait,

    /// <summary>Add nodes.</summary>
    ScaleUp,

    /// <summary>Drain nodes away.</summary>
    ScaleDown,
}

/// <summary>A decision of the planner: go from <see cref="Current"/> to <see cref="Target"/> nodes.</summary>
/// <param name="Action">What to do.</param>
/// <param name="Current">Ready nodes now.</param>
/// <param name="Desired">What the load asks for, clamped to min/max (before the scale-down margin and step).</param>
/// <param name="Target">The count to act on: <see cref="Current"/> unless the action scales.</param>
/// <param name="Reason">Why, in words.</param>
public sealed record AutoscalePlan(AutoscaleAction Action, int Current, int Desired, int Target, string Reason);

/// <summary>
/// Decides the node count from the load, without side effects beyond remembering when it last scaled: desired =
/// <c>ceil(connections / (capacity × target))</c> clamped to min/max, and never below 1. Up goes straight to the
/// desired count; down goes one node at a time and only when the load fits the smaller farm with the scale-down margin
/// to spare (hysteresis), so a load at the edge does not flap. Each direction has its own cooldown after any scaling.
/// </summary>
public sealed class AutoscalePlanner(AutoscaleOptions options, TimeProvider time)
{
    private DateTimeOffset? _lastScaledAt;

    // Validation already requires MinNodes >= 1; this holds for unvalidated options too, as an empty farm never recovers.
    private int MinNodes => Math.Max(1, options.MinNodes);

    /// <summary>When the planner last decided to scale, or null.</summary>
    public DateTimeOffset? LastScaledAt => _lastScaledAt;

    /// <summary>The earliest time a scale-up may be decided.</summary>
    public DateTimeOffset? ScaleUpAllowedAt => _lastScaledAt + options.ScaleUpCooldown;

    /// <summary>The earliest time a scale-down may be decided.</summary>
    public DateTimeOffset? ScaleDownAllowedAt => _lastScaledAt + options.ScaleDownCooldown;

    /// <summary>The node count the load asks for, clamped to min/max.</summary>
    /// <param name="connections">Connections held by all live nodes (draining ones too: their clients come back).</param>
    /// <param name="capacityPerNode">Connections one node holds at most; 0 when unknown.</param>
    /// <param name="utilisation">The fill aimed at.</param>
    public int Desired(long connections, double capacityPerNode, double utilisation)
    {
        if (capacityPerNode <= 0)
        {
            return MinNodes;
        }
        var wanted = (long)Math.Ceiling(connections / (capacityPerNode * utilisation));
        return (int)Math.Clamp(wanted, MinNodes, options.MaxNodes);
    }

    /// <summary>Decides; a scaling decision starts the cooldowns.</summary>
    /// <param name="current">Ready (not draining) nodes.</param>
    /// <param name="connections">Connections held by all live nodes.</param>
    /// <param name="capacityPerNode">Connections one node holds at most; 0 when unknown.</param>
    public AutoscalePlan Plan(int current, long connections, double capacityPerNode)
    {
        var now = time.GetUtcNow();
        var desired = Desired(connections, capacityPerNode, options.TargetUtilisation);
        var load = $"{connections} connections, {current} nodes of {capacityPerNode:0.#}, target {options.TargetUtilisation:0.##}";
        if (desired > current)
        {
            if (ScaleUpAllowedAt is { } upAt && now < upAt)
            {
                return new AutoscalePlan(AutoscaleAction.Wait, current, desired, current, $"{load}: {desired} wanted, scale-up cooldown until {upAt:HH:mm:ss}");
            }
            _lastScaledAt = now;
            return new AutoscalePlan(AutoscaleAction.ScaleUp, current, desired, desired,
                current < MinNodes && connections == 0 ? $"{current} nodes, below the minimum {MinNodes}" : $"{load}: {desired} wanted");
        }
        // Hysteresis: the smaller farm must hold the load under the target less the margin.
        var roomy = Desired(connections, capacityPerNode, options.TargetUtilisation * (1 - options.ScaleDownMargin));
        if (current > options.MaxNodes || (roomy < current && current > MinNodes))
        {
            if (ScaleDownAllowedAt is { } downAt && now < downAt)
            {
                return new AutoscalePlan(AutoscaleAction.Wait, current, desired, current, $"{load}: {roomy} would do, scale-down cooldown until {downAt:HH:mm:ss}");
            }
            _lastScaledAt = now;
            // One node at a time: a drain moves clients onto the rest, and the next look sees the result.
            return new AutoscalePlan(AutoscaleAction.ScaleDown, current, desired, current - 1, $"{load}: {roomy} would do");
        }
        return new AutoscalePlan(AutoscaleAction.None, current, desired, current, $"{load}: {current} is right");
    }

    /// <summary>The nodes to drain for a scale-down: the least loaded (fewest clients to move), ties by id.</summary>
    public static IReadOnlyList<string> PickDrains(IEnumerable<NodeHeartbeat> ready, int count) =>
        ready.OrderBy(n => n.Connections).ThenBy(n => n.NodeId, StringComparer.Ordinal).Take(Math.Max(0, count)).Select(n => n.NodeId).ToArray();
}
