using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Cluster;

/// <summary>
/// Backends from the cluster: every node that sends heartbeats over the backplane, at its public URL. A draining node
/// stays known (its tunnels continue) but takes no new connections; a node that leaves, or stays silent for <see cref="MissedHeartbeatsBeforeRemoval"/> heartbeats, is dropped.
/// </summary>
internal sealed class ClusterBackends : IAsyncDisposable
{
    /// <summary>The load score's blend, as the gateway's default: connection fill 0.7, CPU 0.3.</summary>
    public const double ConnectionWeight = 0.7;

    /// <inheritdoc cref="ConnectionWeight"/>
    public const double CpuWeight = 0.3;

    /// <summary>Heartbeat intervals without news after which a node that did not say it left is forgotten.</summary>
    public const int MissedHeartbeatsBeforeRemoval = 10;

    private readonly ClusterView _view;
    private readonly BackendPool _pool;
    private readonly ILogger _logger;
    private IAsyncDisposable? _subscription;

    private ClusterBackends(ClusterView view, BackendPool pool, ILogger logger)
    {
        _view = view;
        _pool = pool;
        _logger = logger;
    }

    public static async Task<ClusterBackends> StartAsync(IBackplane backplane, BackendPool pool, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        // Ten missed heartbeats, not the gateway's three: a heartbeat that is merely late (a node or broker under load)
        // would otherwise drop a live node, and the tickets naming it would go to a node that refuses them (1008). A
        // node that is really gone shows sooner in the proxy's own dials, which fail and eject it (passive health).
        // The proxy routes by node, never by user: it keeps no presence directory (an entry per user of the cluster).
        var view = new ClusterView(new ClusterViewOptions { MissedHeartbeatsBeforeEviction = MissedHeartbeatsBeforeRemoval, TrackPresence = false }, time);
        var source = new ClusterBackends(view, pool, logger);
        view.HeartbeatReceived += source.OnHeartbeat;
        view.NodeRemoved += source.OnNodeRemoved;
        source._subscription = await backplane.ObserveAsync(view, cancellationToken).ConfigureAwait(false);
        return source;
    }

    public static double LoadOf(NodeHeartbeat heartbeat) =>
        ConnectionWeight * (heartbeat.Capacity > 0 ? (double)heartbeat.Connections / heartbeat.Capacity : 1.0) + CpuWeight * heartbeat.Cpu;

    private void OnHeartbeat(NodeHeartbeat heartbeat)
    {
        if (_pool.Observe(heartbeat, LoadOf(heartbeat)))
        {
            ProxyLog.NodeAdded(_logger, heartbeat.NodeId, heartbeat.Url);
            if (_pool.FindStatic(heartbeat.NodeId) is not null)
            {
                ProxyLog.BackendIdShared(_logger, heartbeat.NodeId);
            }
        }
    }

    private void OnNodeRemoved(string nodeId)
    {
        _pool.RemoveNode(nodeId);
        ProxyLog.NodeRemoved(_logger, nodeId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_subscription is not null)
        {
            await _subscription.DisposeAsync().ConfigureAwait(false);
        }
        _view.Dispose();
    }
}
