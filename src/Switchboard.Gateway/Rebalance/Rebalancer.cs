using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Leadership;
using static System.FormattableString;

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

    private const int KeptDecisions = 20;

    private readonly IBackplane _backplane;
    private readonly ClusterView _cluster;
    private readonly RebalancerOptions _options;
    private readonly TimeSpan _requestTimeout;
    private readonly ILogger _logger;
    private readonly Dictionary<string, DateTimeOffset> _cooldownUntil = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _overSince = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly LinkedList<RebalanceDecision> _decisions = new();
    private RebalanceDecision? _last;
    // The move being asked for, so a failure of its request is shown with the node and figures it concerned.
    private RebalanceDecision? _asking;
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

    /// <summary>What <c>GET /v1/rebalance</c> shows.</summary>
    internal RebalanceView View()
    {
        var now = Time.GetUtcNow();
        lock (_lock)
        {
            return new RebalanceView(
                _options.Enabled,
                IsActive,
                _options.Interval,
                _options.Threshold,
                _options.Hysteresis,
                _options.Cooldown,
                _options.MaxMovesPerRequest,
                _options.MinConnections,
                Rounds,
                Requests,
                _cooldownUntil.Where(c => c.Value > now).OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new RebalanceCooldown(c.Key, c.Value)).ToArray(),
                _last,
                _decisions.ToArray());
        }
    }

    private protected override bool OnRoundFailed(Exception error)
    {
        var expected = error is BackplaneRequestException or BackplaneUnavailableException or System.Text.Json.JsonException;
        // Shown in GET /v1/rebalance either way; an unexpected one is also logged as an error by the rounds' loop.
        var failed = (_asking ?? new RebalanceDecision(default, RebalanceAction.None, null, 0, 0, 0, 0, null, string.Empty)) with
        {
            At = Time.GetUtcNow(),
            Action = RebalanceAction.None,
            Moving = null,
            Reason = expected ? $"failed: {error.Message}" : $"failed unexpectedly ({error.GetType().Name}): {error.Message}",
        };
        _asking = null;
        Looked(failed, record: true);
        if (!expected)
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
        _asking = null;
        var now = Time.GetUtcNow();
        var nodes = _cluster.Nodes.Select(n => n.Heartbeat).Where(h => !h.Draining && h.Capacity > 0).ToList();
        if (nodes.Count < 2)
        {
            Looked(Nothing(now, RebalanceAction.None, null, 0, $"{nodes.Count} ready node(s) with a capacity: nothing to even out"));
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
            Looked(WhyNoMove(now, nodes, over, mean));
            return;
        }
        _overSince.Remove(overloaded.NodeId);
        var target = (int)Math.Ceiling(mean * (1 + _options.Hysteresis) * overloaded.Capacity);
        var count = Math.Min(_options.MaxMovesPerRequest, overloaded.Connections - target);
        var above = Invariant($"{overloaded.NodeId} at load {Load(overloaded):0.###}, {Above(overloaded, mean)} above the mean {mean:0.###} (threshold {_options.Threshold * 100:0.#}%)");
        if (count <= 0)
        {
            Looked(Nothing(now, RebalanceAction.None, overloaded, mean, $"{above}: already at or under the {target} connections it would come down to"));
            return;
        }
        lock (_lock)
        {
            _cooldownUntil[overloaded.NodeId] = now + _options.Cooldown;
        }
        Interlocked.Increment(ref _requests);
        _asking = new RebalanceDecision(now, RebalanceAction.Move, overloaded.NodeId, overloaded.Connections, Load(overloaded), mean, count, null,
            Invariant($"{above}: asked to move {count} of its {overloaded.Connections} connections to come down to {target}; they reconnect through the gateways, which place them on lighter nodes"));
        var answer = NodeControlMessages.ReadAnswer(await _backplane.RequestAsync(overloaded.NodeId, NodeControlMessages.DrainKind,
            NodeControlMessages.Write(new DrainRequest(count)), _requestTimeout, cancellationToken).ConfigureAwait(false));
        _logger.Rebalanced(overloaded.NodeId, answer.Moving, overloaded.Connections, mean);
        Looked(_asking with { At = Time.GetUtcNow(), Moving = answer.Moving }, record: true);
        _asking = null;
    }

    /// <summary>
    /// Why a round asked no node, the first that holds of: a node over the threshold on one heartbeat only, one in its
    /// cooldown, one with too few connections to ask, no node over the threshold.
    /// </summary>
    private RebalanceDecision WhyNoMove(DateTimeOffset now, List<NodeHeartbeat> nodes, List<NodeHeartbeat> over, double mean)
    {
        var limit = mean * (1 + _options.Threshold);
        if (over.OrderByDescending(Load).FirstOrDefault() is { } unconfirmed)
        {
            return Nothing(now, RebalanceAction.Wait, unconfirmed, mean,
                Invariant($"{unconfirmed.NodeId} is {Above(unconfirmed, mean)} above the mean {mean:0.###} on one heartbeat; its next must say so too"));
        }
        var heavy = nodes.Where(n => Load(n) > limit).OrderByDescending(Load).ToList();
        var cooling = heavy.Where(n => n.Connections >= _options.MinConnections && _cooldownUntil.TryGetValue(n.NodeId, out var until) && until > now).ToList();
        if (cooling.FirstOrDefault() is { } cooled)
        {
            return Nothing(now, RebalanceAction.Wait, cooled, mean,
                Invariant($"{cooled.NodeId} is {Above(cooled, mean)} above the mean {mean:0.###} but was asked already; left alone until {_cooldownUntil[cooled.NodeId]:HH:mm:ss}"));
        }
        if (heavy.FirstOrDefault() is { } small)
        {
            return Nothing(now, RebalanceAction.None, small, mean,
                Invariant($"{small.NodeId} is {Above(small, mean)} above the mean {mean:0.###} but holds {small.Connections} connections, under the {_options.MinConnections} worth moving"));
        }
        var top = nodes.OrderByDescending(Load).First();
        return Nothing(now, RebalanceAction.None, top, mean, mean <= 0
            ? "no connections"
            : Invariant($"no node above the mean {mean:0.###} by more than {_options.Threshold * 100:0.#}%; the most loaded, {top.NodeId}, is {Above(top, mean)} above"));
    }

    private static RebalanceDecision Nothing(DateTimeOffset at, RebalanceAction action, NodeHeartbeat? node, double mean, string reason) =>
        new(at, action, node?.NodeId, node?.Connections ?? 0, node is null ? 0 : Load(node), mean, 0, null, reason);

    private static string Above(NodeHeartbeat node, double mean) => Invariant($"{(Load(node) / mean - 1) * 100:0.#}%");

    /// <summary>The round's outcome becomes <c>lastRound</c>; moves and failures are also kept among the decisions.</summary>
    private void Looked(RebalanceDecision decision, bool record = false)
    {
        lock (_lock)
        {
            _last = decision;
            if (!record)
            {
                return;
            }
            _decisions.AddFirst(decision);
            while (_decisions.Count > KeptDecisions)
            {
                _decisions.RemoveLast();
            }
        }
    }

    private static double Load(NodeHeartbeat node) => (double)node.Connections / node.Capacity;
}
