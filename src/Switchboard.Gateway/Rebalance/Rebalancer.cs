using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Leadership;

namespace Switchboard.Gateway.Rebalance;

/// <summary>
/// Moves connections off nodes whose load is well above the cluster's mean: each round (every
/// <see cref="RebalancerOptions.Interval"/>) the most loaded node above mean × (1 + threshold) is asked, over the
/// backplane, to move enough connections to come down to mean × (1 + hysteresis) — a partial drain; its clients
/// reconnect through the gateways, which place them on lighter nodes, and resume their sessions. A node asked is left
/// alone for the cooldown. Only the gateway that holds the <c>rebalancer</c> election acts, so gateways never
/// fight over the same node.
/// </summary>
public sealed class Rebalancer : ElectedRounds
{
    /// <summary>The election role the rebalancing gateways compete for.</summary>
    public const string Role = "rebalancer";

    private readonly IBackplane _backplane;
    private readonly ClusterView _cluster;
    private readonly RebalancerOptions _options;
    private readonly TimeSpan _requestTimeout;
    private readonly ILogger _logger;
    private readonly Dictionary<string, DateTimeOffset> _cooldownUntil = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _overSince = new(StringComparer.Ordinal);
    private long _rounds;
    private long _requests;

    internal Rebalancer(IBackplane backplane, ClusterView cluster, RebalancerOptions options, TimeSpan requestTimeout, TimeProvider time, ILogger<Rebalancer> logger)
        : base(backplane, Role, options.Interval, options.Enabled, time, logger)
    {
        _backplane = backplane;
        _cluster = cluster;
        _options = options;
        _requestTimeout = requestTimeout;
        _logger = logger;
    }

    /// <summary>Rounds this gateway has run as the active rebalancer.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>Move requests this gateway has sent.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    private protected override bool OnRoundFailed(Exception error)
    {
        if (error is not (BackplaneRequestException or BackplaneUnavailableException or System.Text.Json.JsonException))
        {
            return false;
        }
        _logger.RebalanceRequestFailed(error.Message);
        return true;
    }

    /// <summary>One look at the cluster: asks at most one node to move connections. Public to tests through <see cref="Rounds"/>.</summary>
    internal override async Task RunRoundAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _rounds);
        var now = Time.GetUtcNow();
        var nodes = _cluster.Nodes.Select(n => n.Heartbeat).Where(h => !h.Draining && h.Capacity > 0).ToList();
        if (nodes.Count < 2)
        {
            return;
        }
        var mean = (double)nodes.Sum(n => n.Connections) / nodes.Sum(n => n.Capacity);
        var over = nodes
            .Where(n => n.Connections >= _options.MinConnections && Load(n) > mean * (1 + _options.Threshold))
            .Where(n => !_cooldownUntil.TryGetValue(n.NodeId, out var until) || until <= now)
            .ToList();
        foreach (var gone in _overSince.Keys.Except(over.Select(n => n.NodeId)).ToList())
        {
            _overSince.Remove(gone);
        }
        // A node is judged on two of its heartbeats, not one: a single stale figure (placements it has not reported
        // yet) must not start a move.
        var overloaded = over
            .Where(n =>
            {
                if (!_overSince.TryGetValue(n.NodeId, out var first))
                {
                    _overSince[n.NodeId] = n.SentAt;
                    return false;
                }
                return n.SentAt > first;
            })
            .OrderByDescending(Load)
            .FirstOrDefault();
        if (overloaded is null)
        {
            return;
        }
        _overSince.Remove(overloaded.NodeId);
        var target = (int)Math.Ceiling(mean * (1 + _options.Hysteresis) * overloaded.Capacity);
        var count = Math.Min(_options.MaxMovesPerRequest, overloaded.Connections - target);
        if (count <= 0)
        {
            return;
        }
        _cooldownUntil[overloaded.NodeId] = now + _options.Cooldown;
        Interlocked.Increment(ref _requests);
        var answer = NodeControlMessages.ReadAnswer(await _backplane.RequestAsync(overloaded.NodeId, NodeControlMessages.DrainKind,
            NodeControlMessages.Write(new DrainRequest(count)), _requestTimeout, cancellationToken).ConfigureAwait(false));
        _logger.Rebalanced(overloaded.NodeId, answer.Moving, overloaded.Connections, mean);
    }

    private static double Load(NodeHeartbeat node) => (double)node.Connections / node.Capacity;
}
