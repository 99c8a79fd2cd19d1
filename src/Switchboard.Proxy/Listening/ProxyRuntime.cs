using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Switchboard.Proxy.Admin;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Health;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Reactor;
using Switchboard.Proxy.SourcePool;
using Switchboard.Proxy.Tunnel;
using Switchboard.Reactor;
using Switchboard.Reactor.Kernel;

namespace Switchboard.Proxy.Listening;

/// <summary>What every connection handler shares: the current settings (swapped whole on reload), the backends, health, metrics.</summary>
internal sealed class ProxyRuntime(ProxySettings settings, BackendPool pool, ProxyMetrics metrics, ConnectionRegistry registry, TimeProvider time, ILogger logger, SocketReactor? reactor)
{
    private ProxySettings _settings = settings;

    public ProxySettings Settings
    {
        get => Volatile.Read(ref _settings);
        set => Volatile.Write(ref _settings, value);
    }

    public BackendPool Pool { get; } = pool;

    public ProxyMetrics Metrics { get; } = metrics;

    public ConnectionRegistry Registry { get; } = registry;

    public TimeProvider Time { get; } = time;

    public ILogger Logger { get; } = logger;

    /// <summary>Serves the sockets of tunnel and tcp mode (their handshakes, dials and relays); null in failover mode.</summary>
    public SocketReactor? Reactor { get; } = reactor;

    /// <summary>Relays established tunnels inside the kernel; null when off or not available here.</summary>
    public KernelRelay? Kernel { get; init; }

    public HealthMonitor Health { get; set; } = null!;

    /// <summary>
    /// Picks a backend by policy and dials it (a socket for <see cref="Reactor"/>); when a dial fails the backend is reported to passive health and the
    /// next pick (without it) is tried, up to <c>MaxDialAttempts</c>. The connection counts on the backend from here.
    /// </summary>
    public async Task<DialResult> DialAsync(ClientConnection connection, BalancingContext context, CancellationToken cancellationToken)
    {
        var settings = Settings;
        var candidates = Pool.Candidates();
        if (candidates.Count == 0)
        {
            return new DialResult(null, null, ProxyRefusal.NoHealthyBackend);
        }
        var tried = new List<string>();
        for (var attempt = 0; attempt < settings.Options.MaxDialAttempts && candidates.Count > 0; attempt++)
        {
            var backend = settings.Policy.Pick(candidates, context);
            if (backend is null)
            {
                break;
            }
            backend.AddConnection();
            try
            {
                var socket = await UpstreamDialer.ConnectAsync(backend.Url, settings.SourcePool, settings.Options.ConnectTimeout, Reactor ?? throw new InvalidOperationException("failover mode dials through its own handler"), cancellationToken).ConfigureAwait(false);
                Health.DialSucceeded(backend);
                return new DialResult(backend, socket, null);
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                backend.RemoveConnection();
                ProxyLog.DialFailed(Logger, backend.Id, e.Message);
                Health.PassiveFailure(backend, e.Message, isDial: true);
                tried.Add(backend.Id);
                candidates.Remove(backend);
            }
            catch
            {
                backend.RemoveConnection();
                throw;
            }
        }
        return new DialResult(null, null, tried.Count == 0 ? ProxyRefusal.NoHealthyBackend : ProxyRefusal.NoBackendReachable(string.Join(", ", tried)));
    }
}

/// <summary>A dialled backend and its socket, or why there is none.</summary>
internal sealed record DialResult(Backend? Backend, Socket? Socket, ProxyRefusal? Refusal);
