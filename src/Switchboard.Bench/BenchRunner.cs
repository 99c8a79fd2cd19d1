using Switchboard.Bench.Load;
using Switchboard.Bench.Proxying;
using Switchboard.Bench.Reporting;
using Switchboard.Bench.Scenarios;
using Switchboard.Bench.Targets;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench;

/// <summary>
/// One bench run from start to end: starts the system under test when asked (<c>--cluster local:N</c>), runs the
/// scenario against it, then against the Kestrel baseline when asked, stops everything it started, and writes the report.
/// </summary>
public static class BenchRunner
{
    /// <summary>A baseline of the form <c>node:Key=Value</c> or <c>backplane:Key=Value</c>: its section and setting; nulls otherwise.</summary>
    internal static (string? Section, string? Setting) SettingBaseline(string baseline)
    {
        var colon = baseline.IndexOf(':');
        return colon > 0 && baseline[..colon] is "node" or "backplane" && baseline.IndexOf('=', colon) > colon + 1
            ? (baseline[..colon], baseline[(colon + 1)..])
            : (null, null);
    }

    private static async Task<ScenarioResult> RunLocalAsync(BenchOptions options, string name, IReadOnlyList<string> nodeSettings, IReadOnlyList<string> backplaneSettings,
        Action<string> progress, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalCluster.StartAsync(ClusterOptions(options, nodeSettings, backplaneSettings), progress, cancellationToken).ConfigureAwait(false);
        var settings = string.Join(", ", nodeSettings.Select(s => "Node:" + s).Concat(backplaneSettings.Select(s => "Backplane:" + s)));
        return await new ScenarioRun(options, new RunTarget(name, cluster.Description + (settings.Length > 0 ? $" with {settings}" : ""),
            new TargetSpec(TargetKind.Gateway, cluster.GatewayUrl), cluster.NodeProcesses, cluster.GatewayUrl, cluster.MoveAsync), progress).RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private static LocalClusterOptions ClusterOptions(BenchOptions options, IReadOnlyList<string> nodeSettings, IReadOnlyList<string> backplaneSettings) => new()
    {
        Nodes = options.LocalNodes,
        Backplane = options.Backplane,
        DataPlane = options.DataPlane,
        MaxConnectionsPerNode = options.MaxConnectionsPerNode,
        NodeSettings = nodeSettings,
        BackplaneSettings = backplaneSettings,
    };

    /// <summary>
    /// <c>--proxy</c>: the same scenario once per path and round (<see cref="ProxyRounds"/>), each against a fresh local
    /// cluster so that no path inherits another's warm caches or leftover memory. A path that cannot run here (HAProxy not
    /// installed) is reported as such. Returns each path's runs, in the given order of paths.
    /// </summary>
    private static async Task<List<PathRounds>> RunPathsAsync(BenchOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        var runs = options.ProxyPathNames.ToDictionary(p => p, _ => new List<ScenarioResult>());
        if (options.Interleave)
        {
            if (options.ProxyPathNames.Contains(ProxyPaths.HaProxy) && HaProxyEntry.Executable() is null)
            {
                throw new ArgumentException("--interleave with the haproxy path needs haproxy installed (Debian: apt-get install haproxy); leave haproxy out of --proxy-paths.");
            }
            for (var round = 1; round <= options.Rounds; round++)
            {
                var r = round;
                var say = options.Rounds == 1 ? progress : line => progress($"round {r}/{options.Rounds} · {line}");
                var results = await RunInterleavedAsync(options, say, cancellationToken).ConfigureAwait(false);
                foreach (var result in results)
                {
                    runs[result.Target].Add(result);
                }
            }
            return [.. options.ProxyPathNames.Select(p => new PathRounds(p, runs[p]))];
        }
        foreach (var (round, path) in ProxyRounds.Schedule(options.ProxyPathNames, options.Rounds))
        {
            var say = options.Rounds == 1 ? progress : line => progress($"round {round}/{options.Rounds} · {line}");
            if (path == ProxyPaths.HaProxy && HaProxyEntry.Executable() is null)
            {
                const string Missing = "Not run: haproxy is not installed (Debian: apt-get install haproxy).";
                say($"{path}: {Missing}");
                runs[path].Add(new ScenarioResult(path, "HAProxy in front of the same nodes", [], new Dictionary<string, long>(), new Dictionary<string, long>(),
                    new Dictionary<string, long>(), [], [Missing]));
                continue;
            }
            runs[path].Add(await RunPathAsync(options, path, say, cancellationToken).ConfigureAwait(false));
        }
        return [.. options.ProxyPathNames.Select(p => new PathRounds(p, runs[p]))];
    }

    private static async Task<ScenarioResult> RunPathAsync(BenchOptions options, string path, Action<string> progress, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalCluster.StartAsync(ClusterOptions(options, options.NodeSettings, options.BackplaneSettings), progress, cancellationToken).ConfigureAwait(false);
        var entries = new List<IEntryPoint>();
        try
        {
            var (spec, description) = await StartPathAsync(options, cluster, path, entries, progress, cancellationToken).ConfigureAwait(false);
            return await new ScenarioRun(options, new RunTarget(path, description, spec, [.. cluster.NodeProcesses, .. entries.Select(e => e.Process)], cluster.GatewayUrl,
                cluster.MoveAsync, entries), progress).RunAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(entries.Select(e => e.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>--interleave</c>: every path at once against one fresh cluster, each worker process on one path, so that the
    /// machine's moment is the same for all of them. Returns one result per path, in the order of the paths.
    /// </summary>
    private static async Task<IReadOnlyList<ScenarioResult>> RunInterleavedAsync(BenchOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalCluster.StartAsync(ClusterOptions(options, options.NodeSettings, options.BackplaneSettings), progress, cancellationToken).ConfigureAwait(false);
        var entries = new List<IEntryPoint>();
        try
        {
            var paths = new List<PathTarget>();
            foreach (var path in options.ProxyPathNames)
            {
                var (spec, description) = await StartPathAsync(options, cluster, path, entries, progress, cancellationToken).ConfigureAwait(false);
                paths.Add(new PathTarget(path, description, spec));
            }
            var name = string.Join(" + ", options.ProxyPathNames);
            return await new ScenarioRun(options, new RunTarget(name, $"{name}, interleaved", paths[0].Target, [.. cluster.NodeProcesses, .. entries.Select(e => e.Process)],
                cluster.GatewayUrl, cluster.MoveAsync, entries, paths), progress).RunPerPathAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(entries.Select(e => e.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts the proxy processes <paramref name="path"/> goes through (none for <c>direct</c>), adding them to
    /// <paramref name="entries"/> even when some fail to start, and returns where its clients connect and its layout.
    /// </summary>
    private static async Task<(TargetSpec Spec, string Description)> StartPathAsync(BenchOptions options, LocalCluster cluster, string path, List<IEntryPoint> entries,
        Action<string> progress, CancellationToken cancellationToken)
    {
        var description = cluster.Description + "; clients straight at the node their ticket names";
        var mine = new List<IEntryPoint>();
        if (path != ProxyPaths.Direct)
        {
            var count = options.ProxyProcesses > 0 ? options.ProxyProcesses : ProxyPaths.ProcessesFor(options.Clients + (options.Scenario == BenchScenarios.Fanout ? 1 : 0));
            var nodes = await LocalCluster.NodesAsync(cluster.GatewayUrl, cancellationToken).ConfigureAwait(false);
            var sources = options.ProxySources;
            progress($"{path}: starting {count} {(ProxyPaths.IsSwitchboardProxy(path) ? "switchboard proxy" : "haproxy")} process(es) in front of {nodes.Count} nodes…");
            var kernelRelay = path == ProxyPaths.ProxyKernel;
            var starting = Enumerable.Range(0, count).Select(i => ProxyPaths.IsSwitchboardProxy(path)
                ? StartEntry(SwitchboardProxyEntry.StartAsync($"{path}-{i + 1}", cluster, options.ProxyMode, ProxyPaths.ConnectionsPerProcess, sources, kernelRelay, options.ProxyNice, options.ProxyRelayPriority, options.ProxyRelayThreads, cancellationToken))
                : StartEntry(HaProxyEntry.StartAsync($"haproxy-{i + 1}", nodes, ProxyPaths.ConnectionsPerProcess, sources.Count == 0 ? null : sources[i % sources.Count], options.ProxyNice, cancellationToken))).ToList();
            try
            {
                await Task.WhenAll(starting).ConfigureAwait(false);
            }
            finally
            {
                // Whatever started is stopped by the caller, even when another one failed to.
                mine.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                entries.AddRange(mine);
            }
            var from = (sources.Count == 0 ? "" : $", upstream sockets from {sources.Count} source address(es)") + (options.ProxyNice == 0 ? "" : $", nice {options.ProxyNice}");
            description = ProxyPaths.IsSwitchboardProxy(path)
                ? $"{cluster.Description}; clients through {count} switchboard proxy process(es) ({options.ProxyMode} mode, ticket policy, nodes from the backplane, at most {ProxyPaths.ConnectionsPerProcess:#,0} connections each{from}{(kernelRelay ? ", --kernel-relay true" : "")}{(options.ProxyRelayPriority > 0 ? $", --relay-priority {options.ProxyRelayPriority}" : "")}{(options.ProxyRelayThreads > 0 ? $", --relay-threads {options.ProxyRelayThreads}" : "")})"
                : $"{cluster.Description}; clients through {count} HAProxy process(es) (mode http, one backend per node picked by the ticket's node claim with jwt_payload_query, nbthread {Environment.ProcessorCount}, maxconn {ProxyPaths.ConnectionsPerProcess:#,0}, option forwardfor, timeouts tunnel/client/server 5 min{from})";
            progress($"{path}: {string.Join(", ", mine.Select(e => $"{e.Process.Name} at {e.Address}"))}");
        }
        return (new TargetSpec(TargetKind.Gateway, cluster.GatewayUrl, Via: mine.Count == 0 ? null : [.. mine.Select(e => e.Address)]), description);
    }

    /// <summary>The 1-minute load average from /proc/loadavg, or null where there is none.</summary>
    private static string? LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task<IEntryPoint> StartEntry<T>(Task<T> starting) where T : IEntryPoint => await starting.ConfigureAwait(false);

    /// <summary>Runs the bench; <paramref name="progress"/> gets a line whenever something moves.</summary>
    public static async Task<BenchReport> RunAsync(BenchOptions options, Action<string> progress, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.Scenario is BenchScenarios.Drain or BenchScenarios.Failover && options.Rate == 0)
        {
            // Senders keep messaging the moving clients at a steady rate; a closed loop would stall while they move.
            options = options with { Rate = 1000 };
        }
        var startedAt = DateTimeOffset.UtcNow;
        var machine = MachineFacts.Read();
        var loadAtStart = LoadAverage();
        ScenarioResult switchboard;
        List<ScenarioResult>? paths = null;
        List<PathRounds>? rounds = null;
        if (options.Proxy)
        {
            rounds = await RunPathsAsync(options, progress, cancellationToken).ConfigureAwait(false);
            paths = [.. rounds.Select(r => r.Runs[0])];
            switchboard = paths[0];
        }
        else if (options.LocalNodes > 0)
        {
            switchboard = await RunLocalAsync(options, "switchboard", options.NodeSettings, options.BackplaneSettings, progress, cancellationToken).ConfigureAwait(false);
        }
        else if (options.Gateway is not null)
        {
            switchboard = await new ScenarioRun(options, new RunTarget("switchboard", $"the cluster behind the gateway at {options.Gateway}",
                new TargetSpec(TargetKind.Gateway, options.Gateway), [], options.Gateway,
                options.AdminKey is { } key ? (_, node, ct) => AdminClient.DrainAsync(options.Gateway, key, node, ct) : null), progress).RunAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            switchboard = await new ScenarioRun(options, new RunTarget("switchboard", $"the node {options.NodeId} at {options.Node}",
                new TargetSpec(TargetKind.Node, options.Node!, options.Secret, options.NodeId), [], null), progress).RunAsync(cancellationToken).ConfigureAwait(false);
        }

        ScenarioResult? baseline = null;
        if (options.Baseline is not null && SettingBaseline(options.Baseline) is var (section, setting) && section is not null)
        {
            // The same local cluster with one setting changed, e.g. backplane:Coalescing=false.
            baseline = await RunLocalAsync(options, $"baseline ({options.Baseline})",
                section == "node" ? [.. options.NodeSettings, setting!] : options.NodeSettings,
                section == "backplane" ? [.. options.BackplaneSettings, setting!] : options.BackplaneSettings,
                progress, cancellationToken).ConfigureAwait(false);
        }
        else if (options.Baseline is not null)
        {
            await using var echo = ManagedProcess.Start("kestrel baseline", SelfProcess.StartInfo("bench-echo", "--port", "0"));
            var line = await echo.WaitForLineAsync(l => l.StartsWith("echo listening on ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            var http = new Uri(line["echo listening on ".Length..].Trim());
            var path = options.Scenario == BenchScenarios.Fanout ? EchoServer.BroadcastPath : "/";
            var url = new Uri($"ws://{http.Authority}{path}");
            baseline = await new ScenarioRun(options, new RunTarget("baseline", "a bare Kestrel WebSocket server in one process: echo (direct) or broadcast (fanout), nothing else",
                new TargetSpec(TargetKind.Echo, url), [new ClusterProcess("kestrel", echo.Id, [])], null), progress).RunAsync(cancellationToken).ConfigureAwait(false);
        }

        var settings = new Dictionary<string, string>
        {
            ["clients"] = options.Clients.ToString("#,0", System.Globalization.CultureInfo.InvariantCulture),
            ["duration"] = $"{options.Duration.TotalSeconds:0.#} s",
            ["rate"] = options.Rate > 0 ? $"{options.Rate:#,0} msg/s" : options.Window > 0 ? $"flat out, at most {options.Window:#,0} messages in flight per worker" : "flat out, open loop",
            ["payload padding"] = $"{options.PayloadBytes} B",
            ["warm-up"] = options.Scenario == BenchScenarios.Connect
                ? $"{options.WarmUp.TotalSeconds:0.#} s of connections opened and closed again before the measured burst"
                : $"{options.WarmUp.TotalSeconds:0.#} s of traffic before the measured window",
        };
        if (loadAtStart is not null && LoadAverage() is { } loadAtEnd)
        {
            // A shared machine's other work moves latency more than anything measured; say how busy it was.
            settings["load average (1 min) at start and end"] = $"{loadAtStart} → {loadAtEnd}";
        }
        if (options.Proxy)
        {
            settings["proxy paths"] = string.Join(", ", options.ProxyPathNames);
            settings["proxy mode"] = options.ProxyMode;
            if (options.Interleave)
            {
                settings[RoundRatioTable.InterleaveSetting] = "the paths at the same time on one cluster, worker i on path i mod paths; latency and message figures per path, CPU, memory and processes of the whole run";
            }
            if (options.Rounds > 1)
            {
                settings["rounds"] = options.Interleave
                    ? $"{options.Rounds}, each one interleaved run on a fresh cluster"
                    : $"{options.Rounds}, each a run per path on a fresh cluster; odd rounds in the order above, even rounds in reverse";
            }
        }
        var report = new BenchReport(options.Scenario, options.Command, startedAt, machine, settings, switchboard, baseline, paths, options.Rounds > 1 ? rounds : null);
        if (options.Out is not null)
        {
            var (json, markdown) = await ReportWriter.WriteAsync(report, options.Out, cancellationToken).ConfigureAwait(false);
            progress($"report: {json} and {markdown}");
        }
        return report;
    }
}
