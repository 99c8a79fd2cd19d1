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
internal sealed class ProxyRuntime(ProxySettings settings, BackendPool pool, ProxyMetrics metrics, ConnectionRegistry registry, TimeProvider time, ILogger logger, IReadOnlyList<SocketReactor> reactors)
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

    private int _nextReactor = -1;

    /// <summary>Serve the sockets of tunnel and tcp mode (their handshakes, dials and relays), each connection on one; none in failover mode.</summary>
    public IReadOnlyList<SocketReactor> Reactors { get; } = reactors;

    /// <summary>The reactor a new connection is served on: the one serving the fewest sockets, ties in turn; null in failover mode.</summary>
    public SocketReactor? NextReactor()
    {
        if (Reactors.Count == 0)
        {
            return null;
        }
        // Fewest rather than strictly in turn, so that a steady mix of short and long connections cannot leave the
        // long ones piled on one thread.
        var start = (int)((uint)Interlocked.Increment(ref _nextReactor) % (uint)Reactors.Count);
        var chosen = Reactors[start];
        var fewest = chosen.Registered;
        for (var i = 1; i < Reactors.Count && fewest > 0; i++)
        {
            var candidate = Reactors[(start + i) % Reactors.Count];
            var registered = candidate.Registered;
            if (registered < fewest)
            {
                chosen = candidate;
                fewest = registered;
            }
        }
        return chosen;
    }

    /// <summary>Relays established tunnels inside the kernel; null when off or not available here.</summary>
    public KernelRelay? Kernel { get; init; }

    public HealthMonitor Health { get; set; } = null!;

    private LogThrottle? _localFailureLog;

    /// <summary>
    /// A dial failed on the proxy's side: the client is failed (by the caller), the failure counted and logged at most
    /// once a second, and the backend left alone, since a proxy out of descriptors would otherwise eject every backend.
    /// </summary>
    public void LocalDialFailed(Backend backend, LocalDialException e)
    {
        Metrics.LocalDialFailed();
        var log = LazyInitializer.EnsureInitialized(ref _localFailureLog, () => new LogThrottle(Time, TimeSpan.FromSeconds(1)));
        if (log.ShouldLog(out var held))
        {
            ProxyLog.LocalDialFailed(Logger, backend.Id, e.Message, held);
        }
    }

    private LogThrottle? _slowClientLog;

    /// <summary>
    /// A failover-mode client was closed with 3008 (its send queue overflowed): counted, and logged at most once a second,
    /// since a load of slow clients (a network slowed down for many at once) would otherwise flood the log.
    /// </summary>
    public void SlowClient(string session)
    {
        Metrics.SlowClient();
        var log = LazyInitializer.EnsureInitialized(ref _slowClientLog, () => new LogThrottle(Time, TimeSpan.FromSeconds(1)));
        if (log.ShouldLog(out var held))
        {
            ProxyLog.SlowClient(Logger, session, Settings.Options.SendQueueFrames, Settings.Options.SendQueueBytes, held);
        }
    }

    /// <summary>
    /// Picks a backend by policy and dials it (a socket for the connection's reactor); when a dial fails the backend is reported to passive health and the
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
        LocalDialException? local = null;
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
                var socket = await UpstreamDialer.ConnectAsync(backend.Url, settings.SourcePool, settings.Options.ConnectTimeout, connection.Reactor ?? throw new InvalidOperationException("failover mode dials through its own handler"), cancellationToken).ConfigureAwait(false);
                Health.DialSucceeded(backend);
                return new DialResult(backend, socket, null);
            }
            catch (LocalDialException e)
            {
                // Another try may work (the pool's next source address), and costs the backend nothing.
                backend.RemoveConnection();
                LocalDialFailed(backend, e);
                local = e;
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
        return new DialResult(null, null, Refusal(tried, local));
    }

    /// <summary>Why no dial worked: the backends tried, else the proxy's own failure, else no backend to try.</summary>
    public static ProxyRefusal Refusal(List<string> tried, LocalDialException? local) =>
        tried.Count > 0 ? ProxyRefusal.NoBackendReachable(string.Join(", ", tried))
        : local is not null ? ProxyRefusal.LocalFailure(local.Message)
        : ProxyRefusal.NoHealthyBackend;
}

/// <summary>A dialled backend and its socket, or why there is none.</summary>
internal sealed record DialResult(Backend? Backend, Socket? Socket, ProxyRefusal? Refusal);
