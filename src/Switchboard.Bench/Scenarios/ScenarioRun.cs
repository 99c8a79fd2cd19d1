using System.Diagnostics;
using Switchboard.Bench.Load;
using Switchboard.Bench.Measurement;
using Switchboard.Bench.Proxying;
using Switchboard.Bench.Reporting;
using Switchboard.Bench.Targets;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Scenarios;

/// <summary>Where one run points and what it samples.</summary>
/// <param name="Name">"switchboard" or "baseline", as the report names the run.</param>
/// <param name="Description">How the target is laid out, for the report.</param>
/// <param name="Target">What the clients connect to.</param>
/// <param name="Processes">The target's processes, sampled from /proc; empty when the bench did not start them.</param>
/// <param name="Gateway">A gateway whose /v1/nodes tells what the nodes saw; null for other targets.</param>
/// <param name="Move">Drains (scenario <c>drain</c>) or kills (<c>failover</c>) a node by id; null when the target cannot.</param>
/// <param name="Entries">The proxies the clients go through (<see cref="TargetSpec.Via"/>); their processes are in <paramref name="Processes"/> too.</param>
/// <param name="Interleaved">
/// Paths taken at the same time (<c>--interleave</c>): worker <c>i</c> connects its clients by path <c>i mod count</c>
/// instead of <paramref name="Target"/>; null for one path.
/// </param>
internal sealed record RunTarget(string Name, string Description, TargetSpec Target, IReadOnlyList<ClusterProcess> Processes, Uri? Gateway,
    Func<string, string, CancellationToken, Task>? Move = null, IReadOnlyList<IEntryPoint>? Entries = null, IReadOnlyList<PathTarget>? Interleaved = null);

/// <summary>One of the paths of an interleaved run: its name (<c>direct</c>, <c>proxy</c>, …), layout and where its clients connect.</summary>
internal sealed record PathTarget(string Path, string Description, TargetSpec Target);

/// <summary>
/// Runs one scenario against one target: spreads the clients over workers, drives them through the scenario's phases,
/// samples the target's processes, and turns it all into figures.
/// </summary>
internal sealed class ScenarioRun(BenchOptions options, RunTarget target, Action<string> progress)
{
    private const string Group = "bench";
    private const string UserPrefix = "bench-u";
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(2);
    private const string OneNode = "A worker's clients all landed on one node: their messages do not cross the backplane.";

    private readonly List<IBenchWorker> _workers = [];
    private readonly Dictionary<IBenchWorker, (int First, int Count)> _ranges = [];
    private readonly List<Figure> _figures = [];
    private readonly List<string> _notes = [];
    private readonly Dictionary<IBenchWorker, int> _memberCount = [];
    private readonly Dictionary<string, List<Figure>> _pathFigures = [];
    private readonly Dictionary<string, (Dictionary<string, long> ConnectFailures, Dictionary<string, long> Errors, Dictionary<string, long> Closes)> _pathCounts = [];
    private ProcessWatch _loadGenerator = null!;

    public async Task<ScenarioResult> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RunCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var worker in _workers)
            {
                await worker.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Runs an interleaved target (<see cref="RunTarget.Interleaved"/>) and returns one result per path, in its order:
    /// each path's own latency and message figures, and the run's shared ones (CPU, memory, processes, connecting).
    /// </summary>
    public async Task<IReadOnlyList<ScenarioResult>> RunPerPathAsync(CancellationToken cancellationToken)
    {
        var paths = target.Interleaved ?? throw new InvalidOperationException("Not an interleaved target.");
        var whole = await RunAsync(cancellationToken).ConfigureAwait(false);
        const string Shared = "Interleaved: the paths ran at the same time on one cluster, each worker on one path. Connections, handshakes, senders, messages, latency, failures, errors and closes are this path's own; CPU, memory, the connect rate and its CPU, the proxies' counts, the notes below and the process table are the whole run's, the same on every path.";
        return [.. paths.Select(p => whole with
        {
            Target = p.Path,
            Description = p.Description,
            Figures = [.. whole.Figures.Select(f => _pathFigures.GetValueOrDefault(p.Path)?.FirstOrDefault(own => own.Key == f.Key) ?? f)],
            ConnectFailures = _pathCounts[p.Path].ConnectFailures,
            Errors = _pathCounts[p.Path].Errors,
            Closes = _pathCounts[p.Path].Closes,
            Notes = [Shared, .. whole.Notes],
        })];
    }

    private async Task<ScenarioResult> RunCoreAsync(CancellationToken cancellationToken)
    {
        var fanout = options.Scenario == BenchScenarios.Fanout;
        // Fanout adds the publisher, client 0; the members are 1…Clients.
        var total = options.Clients + (fanout ? 1 : 0);
        StartWorkers(total);
        var sampler = new ProcessWatch(target.Processes);
        _loadGenerator = new ProcessWatch([new ClusterProcess("bench", Environment.ProcessId, [], HoldsConnections: false),
            .. _workers.OfType<WorkerProcess>().Select((w, i) => new ClusterProcess($"bench worker {i}", w.ProcessId, [], HoldsConnections: false))]);
        await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
        if (options.Scenario == BenchScenarios.Connect && options.WarmUp > TimeSpan.Zero)
        {
            await WarmUpConnectsAsync(cancellationToken).ConfigureAwait(false);
        }
        sampler.MarkBefore();
        _loadGenerator.MarkBefore();

        // Connect.
        progress($"{target.Name}: opening {total:#,0} connections with {_workers.Count} worker(s)…");
        var started = Stopwatch.GetTimestamp();
        var connecting = Task.WhenAll(_workers.Select(w => w.ConnectAsync(ConnectOrderFor(w), cancellationToken)));
        // Workers answer only when their share is done; meanwhile the nodes' heartbeats tell how far it got.
        while (target.Gateway is not null && await Task.WhenAny(connecting, Task.Delay(TimeSpan.FromSeconds(2), cancellationToken)).ConfigureAwait(false) != connecting)
        {
            var sofar = await LocalCluster.ReportedConnectionsAsync(target.Gateway, cancellationToken).ConfigureAwait(false);
            progress($"{target.Name}: the nodes hold {sofar:#,0} of {total:#,0} connections after {Stopwatch.GetElapsedTime(started).TotalSeconds:0} s");
        }
        var reports = await connecting.ConfigureAwait(false);
        var connectSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var clients = reports.SelectMany(r => r.Clients).OrderBy(c => c.Index).ToList();
        Add("connections", "connections established", clients.Count, "");
        Add("connections_failed", "connections failed", total - clients.Count, "");
        Add("connect_retries", "gateway 503 answers retried (as real clients do)", reports.Sum(r => r.Retries), "");
        Add("connect_jit_methods", "methods the load generator compiled while connecting", reports.Sum(r => r.JitMethods), "");
        Add("connect_jit_ms", "load generator time compiling while connecting", reports.Sum(r => r.JitSeconds) * 1000, "ms");
        Add("connect_seconds", "time to open them all", connectSeconds, "s");
        Add("connect_rate", "connect rate", clients.Count / connectSeconds, "conn/s");
        progress($"{target.Name}: {clients.Count:#,0} connected in {connectSeconds:0.0} s ({clients.Count / connectSeconds:#,0}/s), {total - clients.Count} failed");
        var perNode = clients.GroupBy(c => c.NodeId ?? "echo").ToDictionary(g => g.Key, g => g.Count());

        // What the nodes saw: their heartbeats, through the gateway.
        if (target.Gateway is not null)
        {
            Add("connections_reported", "connections the nodes report", await ReportedConnectionsAsync(target.Gateway, clients.Count, cancellationToken).ConfigureAwait(false), "");
        }
        // Interleaved, only the proxied paths' clients go through the proxies.
        var throughProxies = target.Interleaved is null ? clients.Count : clients.Count(c => SpecFor(_workers.FindIndex(w => Holds(w, c.Index))).Via is { Count: > 0 });
        var entryOpen = await EntryConnectionsAsync(throughProxies, cancellationToken).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        sampler.MarkAfter();
        _loadGenerator.MarkAfter();
        AddConnectCpu(sampler, clients.Count);

        switch (options.Scenario)
        {
            case BenchScenarios.Idle:
                await HoldAsync(sampler, clients.Count, cancellationToken).ConfigureAwait(false);
                break;
            case BenchScenarios.Direct:
                await TrafficAsync(sampler, Pair(clients), recipientsPerMessage: 1, null, cancellationToken).ConfigureAwait(false);
                break;
            case BenchScenarios.Drain or BenchScenarios.Failover:
                if (target.Move is null)
                {
                    throw new ArgumentException($"--scenario {options.Scenario} needs {(options.Scenario == BenchScenarios.Drain ? "a gateway with --admin-key, or --cluster local:N" : "--cluster local:N --backplane rabbitmq (a process per node to kill)")}.");
                }
                // Behind failover-mode proxies the clients never see the move: the proxies count it.
                var watch = new MoveWatch(WarmUp, node => target.Move(options.Scenario, node, cancellationToken),
                    options.ProxyMode == "failover" && target.Entries is { Count: > 0 } proxies ? () => CarriedOnAsync(proxies, cancellationToken) : null);
                await TrafficAsync(sampler, Pair(clients), recipientsPerMessage: 1, watch, cancellationToken).ConfigureAwait(false);
                Add("moved_node", "clients on the node " + (options.Scenario == BenchScenarios.Drain ? "drained" : "killed") + $" ({watch.Victim})", watch.VictimClients, "");
                Add("rehome_seconds", "time until all were open on other nodes", watch.RehomedAfter, "s");
                Add("moves", "clients that moved (reconnected and welcomed)", watch.Moves, "");
                if (watch.CarriedOn is { } carried)
                {
                    Add("carried_on", "sessions the proxies carried onto another node (the client saw no move)", carried, "");
                }
                Add("peak_move_rate", "peak moves per second", watch.PeakMovesPerSecond, "conn/s");
                var final = await ProgressAsync(cancellationToken).ConfigureAwait(false);
                Add("resumed", "moves that resumed their session whole", final.Resumed, "");
                Add("not_resumed", "moves that could not resume (new session or gap)", final.NotResumed, "");
                Add("missed_reported", "messages the welcomes reported lost", final.Missed, "");
                if (watch.RehomedAfter is null)
                {
                    _notes.Add($"Not every client of {watch.Victim} was open again on another node when the run ended.");
                }
                break;
            case BenchScenarios.Fanout:
                var members = clients.Where(c => c.Index != 0).Select(c => c.Index).ToList();
                progress($"{target.Name}: {members.Count:#,0} members joining '{Group}'…");
                foreach (var worker in _workers)
                {
                    _memberCount[worker] = members.Count(m => Holds(worker, m));
                }
                await Task.WhenAll(_workers.Select(w => w.JoinAsync(new JoinOrder(Group, [.. members.Where(m => Holds(w, m))], options.Concurrency), cancellationToken))).ConfigureAwait(false);
                var publisher = clients.Any(c => c.Index == 0) ? new[] { new SenderOrder(0, $"group:{Group}") } : [];
                if (publisher.Length == 0)
                {
                    _notes.Add("The publisher could not connect: no traffic.");
                }
                await TrafficAsync(sampler, publisher, recipientsPerMessage: members.Count, null, cancellationToken).ConfigureAwait(false);
                break;
        }

        var results = await Task.WhenAll(_workers.Select(w => w.ResultAsync(cancellationToken))).ConfigureAwait(false);
        AddHandshakeFigures(_figures, results);
        if (target.Interleaved is { } interleaved)
        {
            for (var p = 0; p < interleaved.Count; p++)
            {
                var mine = WorkersOf(p);
                // Interleaving is for direct traffic only, so the traffic phase has made the path's list.
                var figures = _pathFigures[interleaved[p].Path];
                var own = clients.Count(c => mine.Any(i => Holds(_workers[i], c.Index)));
                figures.Add(new Figure("connections", "connections established", own, ""));
                figures.Add(new Figure("connections_failed", "connections failed", mine.Sum(i => _ranges[_workers[i]].Count) - own, ""));
                AddHandshakeFigures(figures, [.. mine.Select(i => results[i])]);
                _pathCounts[interleaved[p].Path] = (Sum(mine.Select(i => results[i].ConnectFailures)), Sum(mine.Select(i => results[i].Errors)), Sum(mine.Select(i => results[i].Closes)));
            }
        }

        progress($"{target.Name}: closing…");
        await Task.WhenAll(_workers.Select(w => w.CloseAsync(cancellationToken))).ConfigureAwait(false);
        var processes = sampler.Figures(p => !p.HoldsConnections ? 0
            : p.EntryPoint ? (int)entryOpen.GetValueOrDefault(p.ProcessId)
            : p.NodeIds.Count == 0 ? clients.Count : p.NodeIds.Sum(n => perNode.GetValueOrDefault(n)));
        var entryPids = target.Processes.Where(p => p.EntryPoint).Select(p => p.ProcessId).ToHashSet();
        var holding = processes.Where(p => p.Connections > 0 && !entryPids.Contains(p.ProcessId)).ToList();
        var held = holding.Sum(p => p.Connections);
        if (held > 0)
        {
            Add("rss_per_connection", options.Proxy ? "RSS per connection (nodes)" : "RSS per connection (system under test)", (double)holding.Sum(p => p.RssAfterBytes - p.RssBeforeBytes) / held, "B");
            if (holding.All(p => p.RssEndBytes is not null))
            {
                // What an idle node keeps, which is what a long-lived deployment pays; the figure above is taken a second
                // after the last connection opened, before anything the node does once it has settled.
                Add("rss_per_connection_held", options.Proxy ? "RSS per connection at the end of the hold (nodes)" : "RSS per connection at the end of the hold (system under test)",
                    (double)holding.Sum(p => p.RssEndBytes!.Value - p.RssBeforeBytes) / held, "B");
                // RSS also grows by code: the pages of the runtime's and the project's libraries the connect path touched
                // for the first time, and the code the JIT compiled for it (mapped shared), a one-time cost that does not
                // grow with more connections. The anonymous part is what the connections themselves hold.
                if (holding.All(p => p.AnonEndBytes is > 0 && p.AnonBeforeBytes is > 0))
                {
                    Add("anon_per_connection_held", options.Proxy ? "anonymous RSS per connection at the end of the hold (nodes; without code and mapped files)" : "anonymous RSS per connection at the end of the hold (without code and mapped files)",
                        (double)holding.Sum(p => p.AnonEndBytes!.Value - p.AnonBeforeBytes!.Value) / held, "B");
                }
                // An idle node's RSS is a saw-tooth (garbage piles up until a collection), so one sample can land anywhere on it.
                if (holding.All(p => sampler.MeanRssBytes(p.ProcessId) is not null))
                {
                    Add("rss_per_connection_held_mean", options.Proxy ? "RSS per connection, mean over the hold (nodes)" : "RSS per connection, mean over the hold (system under test)",
                        holding.Sum(p => sampler.MeanRssBytes(p.ProcessId)!.Value - p.RssBeforeBytes) / held, "B");
                }
            }
        }
        if (target.Entries is { Count: > 0 } entries)
        {
            var proxies = processes.Where(p => entryPids.Contains(p.ProcessId)).ToList();
            var proxied = proxies.Sum(p => p.Connections);
            Add("proxy_rss_per_connection", "RSS per connection (proxy processes)", proxied > 0 ? (double)proxies.Sum(p => p.RssAfterBytes - p.RssBeforeBytes) / proxied : null, "B");
            Add("proxy_cpu", "CPU of the proxy processes (idle or traffic phase)", proxies.Sum(p => p.CpuCores), "cores");
            var totals = await Task.WhenAll(entries.Select(e => e.CountsAsync(cancellationToken))).ConfigureAwait(false);
            Add("proxy_connections_total", "connections the proxy processes accepted", totals.All(t => t is not null) ? totals.Sum(t => t!.Total) : null, "");
            foreach (var entry in entries)
            {
                if (entry.Warnings() is { Count: > 0 } warnings)
                {
                    _notes.Add($"{entry.Process.Name} logged {warnings.Count} warning(s){(warnings.Count > 1 ? ", the first and the last" : "")}: {string.Join(" … ", warnings.Count > 1 ? [warnings[0], warnings[^1]] : warnings)}");
                }
            }
        }
        return new ScenarioResult(target.Name, target.Description, _figures,
            Sum(results.Select(r => r.ConnectFailures)), Sum(results.Select(r => r.Errors)), Sum(results.Select(r => r.Closes)), processes, _notes);
    }

    private static async Task<long> CarriedOnAsync(IReadOnlyList<IEntryPoint> proxies, CancellationToken cancellationToken) =>
        (await Task.WhenAll(proxies.Select(p => p.CountsAsync(cancellationToken))).ConfigureAwait(false)).Sum(c => c?.CarriedOn ?? 0);

    /// <summary>
    /// What the proxies in front of the nodes count as open once the clients are in (each proxy's own metrics or
    /// statistics page), by process id; empty without proxies.
    /// </summary>
    private async Task<Dictionary<int, long>> EntryConnectionsAsync(int expected, CancellationToken cancellationToken)
    {
        var open = new Dictionary<int, long>();
        if (target.Entries is not { Count: > 0 } entries)
        {
            return open;
        }
        var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (true)
        {
            var counts = await Task.WhenAll(entries.Select(e => e.CountsAsync(cancellationToken))).ConfigureAwait(false);
            for (var i = 0; i < entries.Count; i++)
            {
                open[entries[i].Process.ProcessId] = counts[i]?.Open ?? 0;
            }
            if (open.Values.Sum() == expected || Stopwatch.GetTimestamp() > deadline)
            {
                break;
            }
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
        Add("proxy_connections_reported", "connections the proxy processes report", open.Values.Sum(), "");
        return open;
    }

    private async Task HoldAsync(ProcessWatch sampler, int established, CancellationToken cancellationToken)
    {
        sampler.StartBusy();
        _loadGenerator.StartBusy();
        var started = Stopwatch.GetTimestamp();
        var lowest = established;
        while (Stopwatch.GetElapsedTime(started) < options.Duration)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            sampler.Sample();
            var open = (await ProgressAsync(cancellationToken).ConfigureAwait(false)).Open;
            lowest = Math.Min(lowest, open);
            progress($"{target.Name}: holding {open:#,0} connections, {Stopwatch.GetElapsedTime(started).TotalSeconds:0}/{options.Duration.TotalSeconds:0} s");
        }
        sampler.EndBusy();
        sampler.MarkEnd();
        _loadGenerator.EndBusy();
        Add("held_seconds", "held for", Stopwatch.GetElapsedTime(started).TotalSeconds, "s");
        Add("connections_dropped", "connections dropped while held", established - lowest, "");
        Add("cpu_idle", "CPU of the system under test while idle", sampler.BusyCores, "cores");
    }

    private async Task TrafficAsync(ProcessWatch sampler, IReadOnlyList<SenderOrder> senders, int recipientsPerMessage, MoveWatch? move, CancellationToken cancellationToken)
    {
        var rate = options.Rate > 0 && senders.Count > 0 ? options.Rate / senders.Count : 0;
        progress($"{target.Name}: {senders.Count:#,0} sender(s) {(rate > 0 ? $"at {options.Rate:#,0} msg/s in all" : $"flat out (window {options.Window:#,0} per worker)")} for {options.Duration.TotalSeconds:0} s…");
        var beforeEach = await EachProgressAsync(cancellationToken).ConfigureAwait(false);
        var before = Total(beforeEach);
        await Task.WhenAll(_workers.Select(w => w.StartTrafficAsync(new TrafficOrder([.. senders.Where(s => Holds(w, s.Index))], rate, options.PayloadBytes, options.Window, LocalRecipients(w, recipientsPerMessage)), cancellationToken))).ConfigureAwait(false);
        if (options.WarmUp > TimeSpan.Zero)
        {
            // Fresh processes compile their hot paths (tiered JIT) during the first seconds of traffic: leave those out.
            progress($"{target.Name}: warming up for {options.WarmUp.TotalSeconds:0.#} s…");
            await Task.Delay(options.WarmUp, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(_workers.Select(w => w.ResetLatencyAsync(cancellationToken))).ConfigureAwait(false);
        }
        var measuredEach = await EachProgressAsync(cancellationToken).ConfigureAwait(false);
        var measured = Total(measuredEach);
        sampler.StartBusy();
        _loadGenerator.StartBusy();
        var started = Stopwatch.GetTimestamp();
        var last = measured;
        var tick = move is null ? TimeSpan.FromSeconds(1) : TimeSpan.FromMilliseconds(250);
        var lastShown = started;
        // A move keeps the traffic going until every moved client is back (or 60 s past the duration).
        while (Stopwatch.GetElapsedTime(started) < options.Duration
            || (move is { Triggered: true, RehomedAfter: null } && Stopwatch.GetElapsedTime(started) < options.Duration + TimeSpan.FromSeconds(60)))
        {
            var left = options.Duration - Stopwatch.GetElapsedTime(started);
            await Task.Delay(left < tick && left > TimeSpan.Zero ? left : tick, cancellationToken).ConfigureAwait(false);
            var now = await ProgressAsync(cancellationToken).ConfigureAwait(false);
            if (move is not null)
            {
                await move.TickAsync(now, Stopwatch.GetElapsedTime(started)).ConfigureAwait(false);
            }
            if (Stopwatch.GetElapsedTime(lastShown) >= TimeSpan.FromSeconds(1))
            {
                lastShown = Stopwatch.GetTimestamp();
                sampler.Sample();
                var moving = move is { Triggered: true } ? $", {move.Victim} holds {now.ByNode?.GetValueOrDefault(move.Victim!) ?? 0:#,0}, {move.Moves:#,0} moved" : "";
                progress($"{target.Name}: sent {now.Sent:#,0} (+{now.Sent - last.Sent:#,0}), delivered {now.Delivered:#,0} (+{now.Delivered - last.Delivered:#,0}){moving}, {Stopwatch.GetElapsedTime(started).TotalSeconds:0}/{options.Duration.TotalSeconds:0} s");
                last = now;
            }
        }
        await Task.WhenAll(_workers.Select(w => w.StopTrafficAsync(cancellationToken))).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        sampler.EndBusy();
        _loadGenerator.EndBusy();
        var atStopEach = await EachProgressAsync(cancellationToken).ConfigureAwait(false);
        var atStop = Total(atStopEach);

        // Let what is in flight arrive: until everything expected is in, or nothing has moved for 3 s. A refused message
        // is not expected (its refusal may still be on the way, so it is counted anew each time).
        long Expected(WorkerProgress progress) => (atStop.Sent - progress.Refused) * recipientsPerMessage;
        var settled = atStop;
        var settledEach = atStopEach;
        var quietSince = Stopwatch.GetTimestamp();
        var settleStarted = Stopwatch.GetTimestamp();
        var settleLimit = options.Duration + TimeSpan.FromSeconds(30);
        while (settled.Delivered < Expected(settled) && Stopwatch.GetElapsedTime(quietSince) < TimeSpan.FromSeconds(3) && Stopwatch.GetElapsedTime(settleStarted) < settleLimit)
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            settledEach = await EachProgressAsync(cancellationToken).ConfigureAwait(false);
            var now = Total(settledEach);
            if (now.Delivered != settled.Delivered)
            {
                quietSince = Stopwatch.GetTimestamp();
            }
            settled = now;
        }
        if (settled.Delivered < Expected(settled) && Stopwatch.GetElapsedTime(quietSince) < TimeSpan.FromSeconds(3))
        {
            _notes.Add($"Deliveries were still arriving {settleLimit.TotalSeconds:0} s after the senders stopped: 'deliveries lost' counts messages still queued, not only lost ones; the offered rate is above what this setup sustains.");
        }
        var results = await Task.WhenAll(_workers.Select(w => w.ResultAsync(cancellationToken))).ConfigureAwait(false);
        Add("senders", "senders", senders.Count, "");
        Add("recipients_per_message", "recipients per message", recipientsPerMessage, "");
        AddMessageFigures(_figures, new TrafficWindow(before, measured, atStop, settled, seconds, recipientsPerMessage), results);
        if (target.Interleaved is { } paths)
        {
            for (var p = 0; p < paths.Count; p++)
            {
                var mine = WorkersOf(p);
                var window = new TrafficWindow(Total(mine.Select(i => beforeEach[i])), Total(mine.Select(i => measuredEach[i])), Total(mine.Select(i => atStopEach[i])),
                    Total(mine.Select(i => settledEach[i])), seconds, recipientsPerMessage);
                var figures = _pathFigures[paths[p].Path] = [new Figure("senders", "senders", senders.Count(s => mine.Any(i => Holds(_workers[i], s.Index))), "")];
                AddMessageFigures(figures, window, [.. mine.Select(i => results[i])]);
            }
        }
        if (move is not null)
        {
            var moved = Merge(results.Select(r => r.Moved));
            Add("move_p50", "time to move p50 (leave a node → welcome on the next)", moved.ValueAtPercentile(50), "µs");
            Add("move_p99", "time to move p99", moved.ValueAtPercentile(99), "µs");
        }
        Add("cpu_traffic", "CPU of the system under test during traffic", sampler.BusyCores, "cores");
        Add("cpu_bench", "CPU of the load generator during traffic", _loadGenerator.BusyCores, "cores");
        var deliveredDuring = atStop.Delivered - measured.Delivered;
        if (deliveredDuring > 0 && sampler.BusyCores is { } cores)
        {
            Add("cpu_per_delivery", "CPU per delivery", cores * seconds / deliveredDuring * 1_000_000, "µs");
        }
    }

    /// <summary>
    /// Direct traffic: each client sends to a user on the next node over (so every message crosses nodes); with one
    /// node, to the next user on it; against the echo baseline, to itself (the echo is its "other node").
    /// </summary>
    private List<SenderOrder> Pair(List<ConnectedClient> clients)
    {
        if (target.Target.Kind == TargetKind.Echo)
        {
            _notes.Add("Baseline: each message is echoed to its sender (one hop through one process).");
            return [.. clients.Select(c => new SenderOrder(c.Index, $"user:{c.UserId}"))];
        }
        var senders = new List<SenderOrder>(clients.Count);
        // Pairs stay inside one worker, so each worker's flat-out window sees its own messages arrive.
        foreach (var worker in _workers)
        {
            var byNode = clients.Where(c => Holds(worker, c.Index)).GroupBy(c => c.NodeId ?? "").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToList()).ToList();
            if (byNode.Count == 1 && !_notes.Contains(OneNode))
            {
                _notes.Add(OneNode);
            }
            for (var n = 0; n < byNode.Count; n++)
            {
                var targets = byNode[(n + 1) % byNode.Count];
                for (var k = 0; k < byNode[n].Count; k++)
                {
                    // Within one node, shift by one so nobody messages themselves.
                    var receiver = targets[(k + (byNode.Count == 1 ? 1 : 0)) % targets.Count];
                    senders.Add(new SenderOrder(byNode[n][k].Index, $"user:{receiver.UserId}"));
                }
            }
        }
        return senders;
    }

    /// <summary>How many of one message's recipients a worker holds: 1 for direct (pairs stay in a worker); its members for fanout.</summary>
    private int LocalRecipients(IBenchWorker worker, int recipientsPerMessage) =>
        recipientsPerMessage == 1 ? 1 : _memberCount.GetValueOrDefault(worker);

    private void StartWorkers(int total)
    {
        var count = options.Workers ?? (total <= 2000 ? 0 : (int)Math.Ceiling(total / (double)options.ClientsPerWorker));
        if (target.Interleaved is { } paths)
        {
            // Every path gets as many workers as the others, so each carries the same share of the clients and the rate.
            count = (int)Math.Ceiling(Math.Max(count, 1) / (double)paths.Count) * paths.Count;
        }
        if (count == 0)
        {
            var local = new BenchWorker();
            _workers.Add(local);
            _ranges[local] = (0, total);
            return;
        }
        if (Math.Ceiling(total / (double)count) > options.ClientsPerWorker)
        {
            throw new ArgumentException($"{total} clients over {count} workers is more than --clients-per-worker ({options.ClientsPerWorker}) each.");
        }
        var first = 0;
        for (var i = 0; i < count; i++)
        {
            var share = (total / count) + (i < total % count ? 1 : 0);
            var worker = WorkerProcess.Start(i, inlineCompletions: options.Scenario is BenchScenarios.Connect or BenchScenarios.Idle);
            _workers.Add(worker);
            _ranges[worker] = (first, share);
            first += share;
        }
    }

    /// <summary>
    /// Fresh processes compile their connect paths (tiered JIT) during the first seconds of connecting, as they compile
    /// their message paths during the traffic scenarios' warm-up: the connect rate is measured after a warm-up of
    /// throwaway clients, opened and closed again, that leave no connection behind.
    /// </summary>
    private async Task WarmUpConnectsAsync(CancellationToken cancellationToken)
    {
        progress($"{target.Name}: warming up for {options.WarmUp.TotalSeconds:0.#} s (connections opened and closed again)…");
        var reports = await Task.WhenAll(_workers.Select((w, i) => w.WarmUpAsync(new WarmUpOrder(SpecFor(i), $"{UserPrefix}warm-{i}-",
            options.SourceAddresses.Count == 0 ? null : options.SourceAddresses[i % options.SourceAddresses.Count], options.Concurrency, options.WarmUp),
            cancellationToken))).ConfigureAwait(false);
        Add("warmup_connections", "connections opened and closed to warm up (not measured)", reports.Sum(r => r.Opened), "");
        Add("warmup_failed", "warm-up attempts that failed", reports.Sum(r => r.Failed), "");
        if (target.Gateway is not null)
        {
            // The measured burst starts from none: every warm-up connection has been closed on the nodes too.
            var left = await ReportedConnectionsAsync(target.Gateway, 0, cancellationToken).ConfigureAwait(false);
            if (left is not 0)
            {
                _notes.Add($"10 s after the warm-up the nodes reported {(left is { } n ? $"{n:#,0} connection(s)" : "no count")}, not none: the measured burst may not have started from none.");
            }
        }
    }

    /// <summary>
    /// The connections the nodes report through <paramref name="gateway"/>, once they report <paramref name="expected"/>
    /// or 10 s have passed (their heartbeats lag behind the clients); null when they report nothing.
    /// </summary>
    private static async Task<long?> ReportedConnectionsAsync(Uri gateway, long expected, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        long? reported;
        while ((reported = await LocalCluster.ReportedConnectionsAsync(gateway, cancellationToken).ConfigureAwait(false)) != expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
        return reported;
    }

    private ConnectOrder ConnectOrderFor(IBenchWorker worker)
    {
        var i = _workers.IndexOf(worker);
        var (first, count) = _ranges[worker];
        var source = options.SourceAddresses.Count == 0 ? null : options.SourceAddresses[i % options.SourceAddresses.Count];
        return new ConnectOrder(SpecFor(i), first, count, UserPrefix, source, options.Concurrency, FollowMoves: MovesClients);
    }

    /// <summary>The indexes of the workers on interleaved path <paramref name="path"/>.</summary>
    private List<int> WorkersOf(int path) => [.. Enumerable.Range(0, _workers.Count).Where(i => i % target.Interleaved!.Count == path)];

    /// <summary>Where worker <paramref name="index"/>'s clients connect: its path's target in an interleaved run.</summary>
    private TargetSpec SpecFor(int index) => target.Interleaved is { } paths ? paths[index % paths.Count].Target : target.Target;

    private bool MovesClients => options.Scenario is BenchScenarios.Drain or BenchScenarios.Failover;

    private bool Holds(IBenchWorker worker, int index)
    {
        var (first, count) = _ranges[worker];
        return index >= first && index < first + count;
    }

    private async Task<WorkerProgress> ProgressAsync(CancellationToken cancellationToken) => Total(await EachProgressAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Each worker's progress, in the order of the workers.</summary>
    private Task<WorkerProgress[]> EachProgressAsync(CancellationToken cancellationToken) => Task.WhenAll(_workers.Select(w => w.ProgressAsync(cancellationToken)));

    private static WorkerProgress Total(IEnumerable<WorkerProgress> each)
    {
        var all = each.ToList();
        var byNode = new Dictionary<string, int>();
        foreach (var (node, count) in all.SelectMany(p => p.ByNode ?? new Dictionary<string, int>()))
        {
            byNode[node] = byNode.GetValueOrDefault(node) + count;
        }
        return new WorkerProgress(all.Sum(p => p.Open), all.Sum(p => p.Sent), all.Sum(p => p.Delivered), all.Sum(p => p.Duplicates), all.Sum(p => p.Errors), all.Sum(p => p.Closed),
            all.Sum(p => p.Moves), all.Sum(p => p.Resumed), all.Sum(p => p.NotResumed), all.Sum(p => p.Missed), byNode, all.Sum(p => p.Refused));
    }

    /// <summary>
    /// What opening the connections cost in CPU, the system under test apart from the load generator (whose clients
    /// dial on the same cores), so that a connect rate says what limits it; the process table has each one's share. Also
    /// the load generator's memory per client, which says how many clients a worker process can hold.
    /// </summary>
    private void AddConnectCpu(ProcessWatch sampler, int connected)
    {
        if (connected == 0)
        {
            return;
        }
        var system = sampler.CpuBeforeToAfter();
        var bench = _loadGenerator.CpuBeforeToAfter();
        double PerConnection(IEnumerable<(string Name, TimeSpan Cpu)> processes) => processes.Sum(p => p.Cpu.TotalSeconds) / connected * 1_000_000;
        Add("connect_cpu_per_connection", "CPU per connection opened (system under test, connect phase)", system.Count == 0 ? null : PerConnection(system), "µs");
        Add("connect_cpu_bench_per_connection", "CPU per connection opened (load generator, connect phase)", bench.Count == 0 ? null : PerConnection(bench), "µs");
        Add("rss_per_connection_bench", "RSS per connection (load generator)", _loadGenerator.RssGrowthBeforeToAfter() is { } grown ? (double)grown / connected : null, "B");
    }

    private void Add(string key, string label, double? value, string unit) => _figures.Add(new Figure(key, label, value, unit));

    private static void AddHandshakeFigures(List<Figure> figures, IReadOnlyList<WorkerResult> results)
    {
        var handshake = Merge(results.Select(r => r.Handshake));
        figures.Add(new Figure("handshake_p50", "handshake latency p50", handshake.ValueAtPercentile(50), "µs"));
        figures.Add(new Figure("handshake_p99", "handshake latency p99", handshake.ValueAtPercentile(99), "µs"));
        figures.Add(new Figure("handshake_max", "handshake latency max", handshake.Max, "µs"));
    }

    /// <summary>The progress totals a traffic phase is measured between, and its measured length.</summary>
    private sealed record TrafficWindow(WorkerProgress Before, WorkerProgress Measured, WorkerProgress AtStop, WorkerProgress Settled, double Seconds, int RecipientsPerMessage);

    /// <summary>What the messages of <paramref name="results"/>' workers did in <paramref name="window"/>: counts, rates and latency.</summary>
    private static void AddMessageFigures(List<Figure> figures, TrafficWindow window, IReadOnlyList<WorkerResult> results)
    {
        void Add(string key, string label, double? value, string unit) => figures.Add(new Figure(key, label, value, unit));
        var (before, measured, atStop, settled) = (window.Before, window.Measured, window.AtStop, window.Settled);
        var latency = Merge(results.Select(r => r.Latency));
        Add("sent", "messages sent", atStop.Sent - before.Sent, "");
        Add("delivered", "deliveries", settled.Delivered - before.Delivered, "");
        // A message the node refused (rate_limited, say) was never to be delivered: reported as refused, not lost.
        var refused = settled.Refused - before.Refused;
        Add("refused", "messages refused by the nodes", refused, "");
        Add("lost", "deliveries lost", ((atStop.Sent - before.Sent - refused) * window.RecipientsPerMessage) - (settled.Delivered - before.Delivered), "");
        Add("duplicates", "duplicates delivered", settled.Duplicates - before.Duplicates, "");
        Add("sent_rate", "messages sent per second", (atStop.Sent - measured.Sent) / window.Seconds, "msg/s");
        Add("delivered_rate", "deliveries per second", (atStop.Delivered - measured.Delivered) / window.Seconds, "msg/s");
        Add("latency_p50", "latency p50", latency.ValueAtPercentile(50), "µs");
        Add("latency_p90", "latency p90", latency.ValueAtPercentile(90), "µs");
        Add("latency_p99", "latency p99", latency.ValueAtPercentile(99), "µs");
        Add("latency_p999", "latency p99.9", latency.ValueAtPercentile(99.9), "µs");
        Add("latency_max", "latency max", latency.Max, "µs");
        var sendLag = Merge(results.Select(r => r.SendLag).OfType<HistogramSnapshot>());
        if (sendLag.Count > 0)
        {
            // Latency counts from the write: this is the load generator's own lateness, which it leaves out.
            Add("send_lag_p50", "paced sends' lateness p50 (written after their due time)", sendLag.ValueAtPercentile(50), "µs");
            Add("send_lag_p99", "paced sends' lateness p99", sendLag.ValueAtPercentile(99), "µs");
            Add("send_lag_max", "paced sends' lateness max", sendLag.Max, "µs");
        }
        var fromDue = Merge(results.Select(r => r.LatencyFromDue).OfType<HistogramSnapshot>());
        if (fromDue.Count > 0)
        {
            // The same deliveries timed from when each message was due: the lateness above included, as a client that
            // meant to send at that moment would see it (no coordinated omission).
            Add("latency_due_p50", "latency from the due time p50", fromDue.ValueAtPercentile(50), "µs");
            Add("latency_due_p99", "latency from the due time p99", fromDue.ValueAtPercentile(99), "µs");
            Add("latency_due_p999", "latency from the due time p99.9", fromDue.ValueAtPercentile(99.9), "µs");
            Add("latency_due_max", "latency from the due time max", fromDue.Max, "µs");
        }
    }

    private static LatencyHistogram Merge(IEnumerable<HistogramSnapshot> snapshots)
    {
        var merged = new LatencyHistogram();
        foreach (var snapshot in snapshots)
        {
            merged.Add(LatencyHistogram.FromSnapshot(snapshot));
        }
        return merged;
    }

    private static Dictionary<string, long> Sum(IEnumerable<IReadOnlyDictionary<string, long>> counts)
    {
        var sum = new Dictionary<string, long>();
        foreach (var (key, value) in counts.SelectMany(c => c))
        {
            sum[key] = sum.GetValueOrDefault(key) + value;
        }
        return sum;
    }
}
