using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;

namespace Switchboard.Gateway;

/// <summary>
/// The gateway's lifetime: observes the backplane from start to stop, keeping <see cref="Cluster"/> (the latest
/// heartbeat of every node and the presence directory) up to date. Registered by
/// <see cref="GatewayServiceCollectionExtensions.AddSwitchboardGateway"/> as a hosted service.
/// </summary>
public sealed class SwitchboardGateway : IHostedService, IAsyncDisposable
{
    private readonly IBackplane _backplane;
    private readonly GatewayOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private IAsyncDisposable? _observation;
    private volatile bool _ready;
    private bool _disposed;

    internal SwitchboardGateway(IBackplane backplane, GatewayOptions options, TimeProvider time, ILogger<SwitchboardGateway> logger)
    {
        _backplane = backplane;
        _options = options;
        _logger = logger;
        Cluster = new ClusterView(
            new ClusterViewOptions
            {
                HeartbeatInterval = options.HeartbeatInterval,
                MissedHeartbeatsBeforeEviction = options.MissedHeartbeatsBeforeEviction,
                SilentNodeUsersKeptFor = options.SilentNodeUsersKeptFor,
            },
            time);
        Cluster.NodeEvicted += logger.NodeEvicted;
    }

    /// <summary>This gateway's picture of the cluster: live nodes and who is where.</summary>
    public ClusterView Cluster { get; }

    /// <summary>True from the moment the gateway observes the backplane until it stops.</summary>
    public bool IsReady => _ready;

    /// <summary>Starts observing the backplane.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.DevMode)
        {
            _logger.DevModeEnabled();
        }
        var observation = await _backplane.ObserveAsync(Cluster, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            _observation = observation;
        }
        _ready = true;
        _logger.Started(_options.Placement, _options.HeartbeatInterval);
    }

    /// <summary>Stops observing the backplane and disposes the cluster view.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _ready = false;
        IAsyncDisposable? observation;
        lock (_lock)
        {
            (observation, _observation) = (_observation, null);
        }
        if (observation is not null)
        {
            await observation.DisposeAsync().ConfigureAwait(false);
            _logger.Stopped();
        }
        DisposeView();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private void DisposeView()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        Cluster.Dispose();
    }
}
