using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Backplane;
using Switchboard.Memory;
using Switchboard.Proxy.Admin;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Cluster;
using Switchboard.Proxy.Failover;
using Switchboard.Proxy.Health;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Reactor;
using Switchboard.Proxy.Tcp;
using Switchboard.Proxy.Tunnel;
using Switchboard.Reactor;
using Switchboard.Reactor.Kernel;

namespace Switchboard.Proxy.Hosting;

/// <summary>
/// A running proxy: a raw socket accept loop on the listen address (no HTTP server in the data path, so an idle
/// tunnel costs two sockets and little else), backends from a static list and/or the cluster, health checks,
/// and the admin port. Start with <see cref="StartAsync"/>; <see cref="Reload"/> applies new options without
/// dropping established connections; disposing closes everything.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ProxyRuntime _runtime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private HealthMonitor _health = null!;
    private ClusterBackends? _cluster;
    private FailoverServices? _failover;
    private WebApplication? _admin;
    private Task _acceptLoop = Task.CompletedTask;
    private IdleTrimmer? _idleTrimmer;
    private int _disposed;

    private ProxyServer(Socket listener, ProxyRuntime runtime, ILogger logger)
    {
        _listener = listener;
        _runtime = runtime;
        _logger = logger;
    }

    /// <summary>Where clients connect (the actual port when 0 was asked).</summary>
    public IPEndPoint ListenEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>The admin port's address, or null without one.</summary>
    public IPEndPoint? AdminEndPoint { get; private set; }

    /// <summary>The mode, <see cref="ProxyModes.Tunnel"/>, <see cref="ProxyModes.Tcp"/> or <see cref="ProxyModes.Failover"/>.</summary>
    public string Mode => _runtime.Settings.Options.Mode;

    /// <summary>The balancing policy in force.</summary>
    public string Policy => _runtime.Settings.Policy.Name;

    /// <summary>Open client connections.</summary>
    public int Connections => _runtime.Registry.Count;

    /// <summary>How many reactor threads relay tunnels (<c>Proxy:RelayThreads</c> resolved); 0 in failover mode.</summary>
    public int RelayThreadCount => _runtime.Reactors.Count;

    /// <summary>The threads that relay tunnels (tunnel and tcp mode), once they run; none in failover mode.</summary>
    internal Task<ReactorThread[]> RelayThreads => Task.WhenAll(_runtime.Reactors.Select(r => r.Started));

    /// <summary>Per relay thread, the sockets it serves now (two per tunnel, one per handshake waiting for a socket).</summary>
    internal int[] SocketsPerRelayThread => [.. _runtime.Reactors.Select(r => r.Registered)];

    /// <summary>Whether established tunnels are relayed by the kernel: <c>Proxy:KernelRelay</c> is on and this machine allows it.</summary>
    public bool KernelRelayOn => _runtime.Kernel is not null;

    internal ProxyMetrics Metrics => _runtime.Metrics;

    /// <summary>Every backend and its state, as <c>/admin/backends</c> shows them.</summary>
    public IReadOnlyList<BackendStatus> Backends => _runtime.Pool.All.Select(BackendStatus.Of).ToArray();

    /// <summary>Starts listening; returns once clients can connect.</summary>
    /// <param name="options">The options; validated here.</param>
    /// <param name="backplane">When given, every node heartbeating on it is a backend too.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="timeProvider">The clock (tests may pass a manual one).</param>
    /// <param name="meterFactory">Where the metrics instruments live; a private meter when null.</param>
    /// <param name="random">Randomness for the random policies (tests pass a seeded one).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">An option is invalid, or there is no backend source at all.</exception>
    /// <exception cref="IOException">The listen or admin address is in use.</exception>
    public static async Task<ProxyServer> StartAsync(
        ProxyOptions options, IBackplane? backplane = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null, Random? random = null, CancellationToken cancellationToken = default)
    {
        var settings = ProxySettings.Resolve(options, random, clusterBackends: backplane is not null);
        if (settings.Backends.Count == 0 && backplane is null)
        {
            throw new ArgumentException("The proxy has no backends: give --backend ws://host:port (repeatable) or --backplane amqp://… for the cluster's nodes.");
        }
        var loggers = loggerFactory ?? NullLoggerFactory.Instance;
        var logger = loggers.CreateLogger("Switchboard.Proxy");
        var time = timeProvider ?? TimeProvider.System;
        var listener = new Socket(settings.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(settings.Listen);
            listener.Listen(4096);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"{settings.Listen} is already in use; choose another with --listen."
                : $"cannot listen on {settings.Listen}: {e.Message}", e);
        }
        var pool = new BackendPool(time);
        pool.SetStatic(settings.Backends);
        ProxyRuntime? current = null;
        // The idle timeout is read at each sweep, so a reload changes it; the sweep period is set here.
        var registry = new ConnectionRegistry(time, () => current?.Settings.Options.IdleTimeout ?? TimeSpan.Zero, SweepPeriod(options.IdleTimeout));
        var metrics = new ProxyMetrics(meterFactory, () => registry.Count, () => pool.All);
        // Failover mode terminates WebSocket on .NET's own sockets; tunnel and tcp mode relay on reactors.
        var reactors = options.Mode == ProxyModes.Failover ? [] : StartReactors(options, logger);
        if (reactors.Length > 0 && options.RelayPriority > 0)
        {
            // Each thread sets its own priority first thing; this only waits for them to have started.
            var threads = await Task.WhenAll(reactors.Select(r => r.Started)).ConfigureAwait(false);
            if (threads.FirstOrDefault(t => t.PriorityRefused is not null) is { PriorityRefused: { } refused })
            {
                ProxyLog.RelayPriorityRefused(logger, options.RelayPriority, refused);
            }
            else
            {
                ProxyLog.RelayPriorityOn(logger, reactors.Length, options.RelayPriority);
            }
        }
        var runtime = current = new ProxyRuntime(settings, pool, metrics, registry, time, logger, reactors) { Kernel = StartKernelRelay(options, logger) };
        var server = new ProxyServer(listener, runtime, logger);
        try
        {
            server._health = runtime.Health = new HealthMonitor(pool, () => runtime.Settings, time, logger);
            if (options.IdleTrim)
            {
                server._idleTrimmer = IdleTrimmer.For(IdleTrimSettings.Default, () => registry.Count, time,
                    (held, outcome) => ProxyLog.IdleTrimmed(logger, held, IdleTrimmer.Megabytes(outcome.RssBefore), IdleTrimmer.Megabytes(outcome.RssAfter),
                        IdleTrimmer.Megabytes(outcome.HeapCommittedBefore), IdleTrimmer.Megabytes(outcome.HeapCommittedAfter), outcome.Pause.TotalMilliseconds),
                    e => ProxyLog.IdleTrimFailed(logger, e));
                server._idleTrimmer.Start();
            }
            if (backplane is not null)
            {
                server._cluster = await ClusterBackends.StartAsync(backplane, pool, time, logger, cancellationToken).ConfigureAwait(false);
            }
            if (settings.Admin is not null)
            {
                try
                {
                    server._admin = await AdminServer.StartAsync(settings.Admin, metrics, server.Describe, () => pool.Candidates().Count > 0, loggers, cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new IOException($"cannot listen on the admin address {settings.Admin}: {e.Message}", e);
                }
                server.AdminEndPoint = AdminServer.BoundEndPoint(server._admin);
            }
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (settings.Gateway is not null)
        {
            server._failover = new FailoverServices(new GatewayClient(settings.Gateway, options.GatewayKey, options.HandshakeTimeout, logger), runtime);
            if (options.GatewayKey is null)
            {
                ProxyLog.NoGatewayKey(logger, settings.Gateway.ToString());
            }
        }
        var acceptLoop = new AcceptLoop(token => server._listener.AcceptAsync(token), server.Handle, () => runtime.Settings.Options.AcceptRatePerSecond,
            runtime.Metrics, runtime.Time, logger);
        server._acceptLoop = Task.Run(() => acceptLoop.RunAsync(server._stopping.Token));
        ProxyLog.ProxyStarted(logger, options.Mode, server.ListenEndPoint.ToString(), settings.Policy.Name, settings.Backends.Count);
        return server;
    }

    /// <summary>
    /// Applies new options: backends, policy, health checks, timeouts, caps and the source pool. Established connections
    /// continue on their backends; a backend no longer listed takes nothing new. The listen and admin addresses and the
    /// mode need a restart (a warning says so).
    /// </summary>
    /// <exception cref="ArgumentException">The new options are invalid; the running ones stay.</exception>
    public void Reload(ProxyOptions options)
    {
        var current = _runtime.Settings;
        if (options.Mode != current.Options.Mode)
        {
            // Decided before resolving, so the policy's default is the running mode's.
            ProxyLog.ReloadNeedsRestart(_logger, "Proxy:Mode");
            options.Mode = current.Options.Mode;
        }
        ProxySettings next;
        try
        {
            next = ProxySettings.Resolve(options, clusterBackends: current.ClusterBackends);
        }
        catch (ArgumentException e)
        {
            ProxyLog.ReloadRefused(_logger, e.Message);
            throw;
        }
        if (next.Backends.Count == 0 && !current.ClusterBackends)
        {
            // As at start: a proxy with nothing to send clients to would answer every one of them 503.
            const string NoBackends = "The reloaded configuration has no backends (Proxy:Backends is empty and there is no backplane): the running one stays.";
            ProxyLog.ReloadRefused(_logger, NoBackends);
            throw new ArgumentException(NoBackends);
        }
        if (!next.Listen.Equals(current.Listen))
        {
            ProxyLog.ReloadNeedsRestart(_logger, "Proxy:Listen");
        }
        if (!Equals(next.Admin, current.Admin))
        {
            ProxyLog.ReloadNeedsRestart(_logger, "Proxy:Admin");
        }
        if (next.Options.RelayPriority != current.Options.RelayPriority)
        {
            ProxyLog.ReloadNeedsRestart(_logger, "Proxy:RelayPriority");
        }
        if (next.Options.RelayThreadCount != current.Options.RelayThreadCount)
        {
            ProxyLog.ReloadNeedsRestart(_logger, "Proxy:RelayThreads");
        }
        next = next with { Listen = current.Listen, Admin = current.Admin };
        _runtime.Settings = next;
        _runtime.Pool.SetStatic(next.Backends);
        foreach (var shared in _runtime.Pool.SharedIds())
        {
            ProxyLog.BackendIdShared(_logger, shared);
        }
        if (!string.IsNullOrEmpty(current.Options.HealthCheck.Path) && string.IsNullOrEmpty(next.Options.HealthCheck.Path))
        {
            // No check will pass any more: what the checks ejected is retried like a passive ejection.
            var retryAt = _runtime.Time.GetUtcNow() + next.Options.PassiveEjectionTime;
            foreach (var backend in _runtime.Pool.All)
            {
                backend.RetryWithoutChecksAt(retryAt);
            }
        }
        ProxyLog.Reloaded(_logger, next.Policy.Name, next.Backends.Count);
    }

    private BackendsResponse Describe() => new(Mode, Policy, Connections, Backends);

    private static SocketReactor[] StartReactors(ProxyOptions options, ILogger logger)
    {
        var reactors = new List<SocketReactor>();
        try
        {
            for (var i = 0; i < options.RelayThreadCount; i++)
            {
                reactors.Add(new SocketReactor($"switchboard proxy reactor {i + 1}", e => ProxyLog.ReactorFailed(logger, e), options.RelayPriority));
            }
        }
        catch
        {
            foreach (var reactor in reactors)
            {
                reactor.Dispose();
            }
            throw;
        }
        return [.. reactors];
    }

    private static TimeSpan SweepPeriod(TimeSpan idleTimeout) =>
        idleTimeout <= TimeSpan.Zero ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(5).Ticks));

    private void Handle(Socket client)
    {
        client.NoDelay = true;
        var connection = new ClientConnection(client, (IPEndPoint)client.RemoteEndPoint!, _runtime.Time.GetTimestamp()) { Reactor = _runtime.NextReactor() };
        _ = HandleAsync(connection, _stopping.Token);
    }

    private async Task HandleAsync(ClientConnection connection, CancellationToken stopping)
    {
        var settings = _runtime.Settings;
        if (!_runtime.Registry.TryAdd(connection, settings.MaxConnections))
        {
            if (settings.Options.Mode != ProxyModes.Tcp)
            {
                await TunnelHandler.RefuseAsync(connection, _runtime, ProxyRefusal.OverCapacity).ConfigureAwait(false);
            }
            else
            {
                _runtime.Metrics.Refused(ProxyRefusal.OverCapacity.Status);
            }
            connection.Close();
            return;
        }
        try
        {
            if (settings.Options.Mode == ProxyModes.Tcp)
            {
                await TcpHandler.RunAsync(connection, _runtime, stopping).ConfigureAwait(false);
            }
            else if (settings.Options.Mode == ProxyModes.Failover)
            {
                await FailoverHandler.RunAsync(connection, _runtime, _failover!, stopping).ConfigureAwait(false);
            }
            else
            {
                await TunnelHandler.RunAsync(connection, _runtime, stopping).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // A connection's failure is its own; the listener and the other tunnels go on.
        }
        catch (Exception e)
        {
            // A bug, not a network event: say so, and still keep it to this one connection.
            ProxyLog.ConnectionFailed(_logger, connection.Remote.ToString(), e);
        }
        finally
        {
            if (connection.ClosedBecause == "idle timeout")
            {
                _runtime.Metrics.IdleClosed();
            }
            connection.Close();
            _runtime.Registry.Remove(connection);
        }
    }

    private static KernelRelay? StartKernelRelay(ProxyOptions options, ILogger logger)
    {
        if (options.Mode == ProxyModes.Failover || !options.KernelRelay)
        {
            return null;
        }
        // Each tunnel takes two entries per map; room for far more than the connection cap, which a reload may raise.
        var kernel = KernelRelay.TryCreate(Math.Max(65_536, (options.MaxConnections ?? ProxyOptions.FileDescriptorBudget) * 2), out var unavailable);
        if (kernel is null)
        {
            ProxyLog.KernelRelayUnavailable(logger, unavailable!);
        }
        else
        {
            ProxyLog.KernelRelayOn(logger);
        }
        return kernel;
    }

    /// <summary>Stops accepting, closes every connection and the admin port.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        ProxyLog.ProxyStopping(_logger, _runtime.Registry.Count);
        if (_idleTrimmer is not null)
        {
            // Clients leaving all at once are no burst worth a trim: the process is about to end.
            await _idleTrimmer.DisposeAsync().ConfigureAwait(false);
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        _runtime.Registry.CloseAll("proxy stopping");
        if (_admin is not null)
        {
            await _admin.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _admin.DisposeAsync().ConfigureAwait(false);
        }
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync().ConfigureAwait(false);
        }
        if (_health is not null)
        {
            await _health.DisposeAsync().ConfigureAwait(false);
        }
        _failover?.Dispose();
        foreach (var reactor in _runtime.Reactors)
        {
            reactor.Dispose();
        }
        _runtime.Kernel?.Dispose();
        _runtime.Registry.Dispose();
        _runtime.Metrics.Dispose();
        _stopping.Dispose();
    }
}
