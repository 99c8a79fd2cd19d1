using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Leadership;

namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// Keeps the farm at the node count the load asks for: every <see cref="AutoscaleOptions.Interval"/> the active
/// autoscaler sums the connections in the nodes' heartbeats, lets the <see cref="AutoscalePlanner"/> decide, and on a
/// scale-up asks the <see cref="IProvisioner"/> for more nodes; on a scale-down it first drains the least loaded node
/// over the backplane (as <c>POST /v1/admin/nodes/{id}/drain</c> does), then tells the provisioner the new count.
/// Only the gateway that holds the <c>autoscaler</c> election acts.
/// </summary>
public sealed class Autoscaler : ElectedRounds
{
    /// <summary>The election role the autoscaling gateways compete for.</summary>
    public const string Role = "autoscaler";

    private const int KeptDecisions = 20;

    private readonly IBackplane _backplane;
    private readonly ClusterView _cluster;
    private readonly AutoscaleOptions _options;
    private readonly IProvisioner _provisioner;
    private readonly AutoscalePlanner _planner;
    private readonly TimeSpan _requestTimeout;
    private readonly TimeSpan _warmup;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly LinkedList<AutoscaleDecision> _decisions = new();
    private AutoscalePlan? _last;
    private DateTimeOffset _lastAt;

    internal Autoscaler(IBackplane backplane, ClusterView cluster, AutoscaleOptions options, IProvisioner provisioner, TimeSpan requestTimeout,
        TimeSpan warmup, TimeProvider time, ILogger<Autoscaler> logger)
        : base(backplane, Role, options.Interval, options.Enabled, time, logger)
    {
        _backplane = backplane;
        _cluster = cluster;
        _options = options;
        _provisioner = provisioner;
        _planner = new AutoscalePlanner(options, time);
        _requestTimeout = requestTimeout;
        _warmup = warmup;
        _logger = logger;
    }

    /// <summary>The provisioner the autoscaler acts through.</summary>
    public IProvisioner Provisioner => _provisioner;

    /// <summary>What <c>GET /v1/autoscale</c> shows.</summary>
    internal AutoscaleView View()
    {
        var nodes = _cluster.Nodes.Select(n => n.Heartbeat).ToList();
        var ready = nodes.Where(n => !n.Draining).ToList();
        lock (_lock)
        {
            return new AutoscaleView(
                _options.Enabled,
                IsActive,
                _provisioner.Name,
                ready.Count,
                nodes.Count(n => n.Draining),
                nodes.Sum(n => (long)n.Connections),
                CapacityPerNode(ready),
                _last?.Desired,
                _options.TargetUtilisation,
                _options.MinNodes,
                _options.MaxNodes,
                new AutoscaleCooldowns(_planner.LastScaledAt, _planner.ScaleUpAllowedAt, _planner.ScaleDownAllowedAt),
                _last is null ? null : new AutoscaleDecision(_lastAt, _last.Action, _last.Current, _last.Target, _last.Reason, []),
                _decisions.ToArray());
        }
    }

    // The cluster view is built from heartbeats: right after start-up it has not heard every node yet.
    private protected override bool ReadyForRound() => Time.GetUtcNow() - StartedAt >= _warmup;

    private protected override bool OnRoundFailed(Exception error)
    {
        if (error is not (ProvisionerException or BackplaneRequestException or BackplaneUnavailableException or System.Text.Json.JsonException))
        {
            // Logged as an error by the rounds' loop; shown in GET /v1/autoscale too, where operators look first.
            Record(new AutoscaleDecision(Time.GetUtcNow(), AutoscaleAction.None, 0, 0,
                $"failed unexpectedly ({error.GetType().Name}): {error.Message}", []));
            return false;
        }
        _logger.Failed(error.Message);
        Record(new AutoscaleDecision(Time.GetUtcNow(), AutoscaleAction.None, 0, 0, $"failed: {error.Message}", []));
        return true;
    }

    private protected override async ValueTask OnStoppedAsync()
    {
        switch (_provisioner)
        {
            case IAsyncDisposable disposable:
                await disposable.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }

    /// <summary>One look at the cluster and what follows from it.</summary>
    internal override async Task RunRoundAsync(CancellationToken cancellationToken)
    {
        var nodes = _cluster.Nodes.Select(n => n.Heartbeat).ToList();
        var ready = nodes.Where(n => !n.Draining).ToList();
        var connections = nodes.Sum(n => (long)n.Connections);
        var plan = _planner.Plan(ready.Count, connections, CapacityPerNode(ready));
        lock (_lock)
        {
            _last = plan;
            _lastAt = Time.GetUtcNow();
        }
        if (plan.Action is not (AutoscaleAction.ScaleUp or AutoscaleAction.ScaleDown))
        {
            return;
        }
        _logger.Decided(plan.Action, plan.Current, plan.Target, plan.Reason);
        IReadOnlyList<string> drained = [];
        if (plan.Action == AutoscaleAction.ScaleDown)
        {
            drained = AutoscalePlanner.PickDrains(ready, plan.Current - plan.Target);
            foreach (var nodeId in drained)
            {
                // A whole-node drain: the node stops taking clients, moves the ones it has, and exits when empty.
                NodeControlMessages.ReadAnswer(await _backplane.RequestAsync(nodeId, NodeControlMessages.DrainKind,
                    NodeControlMessages.Write(new DrainRequest()), _requestTimeout, cancellationToken).ConfigureAwait(false));
                _logger.DrainAsked(nodeId, ready.First(n => n.NodeId == nodeId).Connections);
            }
        }
        Record(new AutoscaleDecision(Time.GetUtcNow(), plan.Action, plan.Current, plan.Target, plan.Reason, drained));
        var remaining = ready.Select(n => n.NodeId).Except(drained).Order(StringComparer.Ordinal).ToArray();
        await _provisioner.ScaleAsync(new ScaleRequest(plan.Target, plan.Current, remaining, drained, plan.Reason), cancellationToken).ConfigureAwait(false);
    }

    private double CapacityPerNode(List<NodeHeartbeat> ready) =>
        _options.CapacityPerNode > 0 ? _options.CapacityPerNode
        : ready.Where(n => n.Capacity > 0).Select(n => (double)n.Capacity).DefaultIfEmpty(0).Average();

    private void Record(AutoscaleDecision decision)
    {
        lock (_lock)
        {
            _decisions.AddFirst(decision);
            while (_decisions.Count > KeptDecisions)
            {
                _decisions.RemoveLast();
            }
        }
    }
}
