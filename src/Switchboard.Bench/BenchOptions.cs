namespace Switchboard.Bench;

/// <summary>The names of the bench's scenarios, as <c>--scenario</c> takes them.</summary>
public static class BenchScenarios
{
    /// <summary>Open N connections and hold them: memory and CPU per connection on each node.</summary>
    public const string Idle = "idle";

    /// <summary>New connections per second, end to end (placement, handshake, welcome).</summary>
    public const string Connect = "connect";

    /// <summary>Users on different nodes messaging each other.</summary>
    public const string Direct = "direct";

    /// <summary>One publisher, a group of N members spread over the nodes.</summary>
    public const string Fanout = "fanout";

    /// <summary>Direct traffic while the busiest node is drained: time until its clients are all elsewhere, lost and duplicated messages.</summary>
    public const string Drain = "drain";

    /// <summary>Direct traffic while the busiest node is killed with SIGKILL: time until its clients are all re-homed, messages lost.</summary>
    public const string Failover = "failover";

    /// <summary>Every scenario name.</summary>
    public static readonly IReadOnlyList<string> All = [Idle, Connect, Direct, Fanout, Drain, Failover];
}

/// <summary>One bench run, as the command line describes it. Every run is bounded by <see cref="Duration"/> and counts.</summary>
public sealed record BenchOptions
{
    /// <summary>One of <see cref="BenchScenarios"/>.</summary>
    public string Scenario { get; init; } = BenchScenarios.Idle;

    /// <summary>A gateway to negotiate with (<c>--gateway</c>).</summary>
    public Uri? Gateway { get; init; }

    /// <summary>A node to connect to straight (<c>--node</c>), with <see cref="Secret"/> and <see cref="NodeId"/> for its tickets.</summary>
    public Uri? Node { get; init; }

    /// <summary>The id of <see cref="Node"/> (its tickets name it).</summary>
    public string NodeId { get; init; } = "node-1";

    /// <summary>An admin key of the gateway (<c>X-Admin-Key</c>), for the drain scenario against a given gateway.</summary>
    public string? AdminKey { get; init; }

    /// <summary>The cluster secret, to sign tickets for <see cref="Node"/>.</summary>
    public string? Secret { get; init; }

    /// <summary>Nodes of a cluster the bench starts itself (<c>--cluster local:N</c>); 0 when the target is given.</summary>
    public int LocalNodes { get; init; }

    /// <summary>The backplane of a local cluster: <c>memory</c>, <c>rabbitmq</c> (a private broker) or an <c>amqp://</c> URL.</summary>
    public string Backplane { get; init; } = "memory";

    /// <summary>Whether local nodes use their lean data-plane listener.</summary>
    public bool DataPlane { get; init; } = true;

    /// <summary>Connections (for fanout: group members; the publisher is one more).</summary>
    public int Clients { get; init; } = 1000;

    /// <summary>How long connections are held (idle) or traffic runs (direct, fanout).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Before the measured window, fresh processes compile their hot paths (tiered JIT): traffic, counted in lost and
    /// duplicated but not in rates, latency or CPU; for <c>connect</c>, throwaway connections opened and closed again.
    /// Unless set, the scenario's <see cref="DefaultWarmUp"/>.
    /// </summary>
    public TimeSpan WarmUp
    {
        get => _warmUp ?? DefaultWarmUp(Scenario);
        init => _warmUp = value;
    }

    private readonly TimeSpan? _warmUp;

    /// <summary>
    /// The warm-up when none is given: 2 s of traffic, and 10 s for <c>connect</c>, whose connect paths a fresh process
    /// runs only some hundreds of times in its first 2 s, too few for the JIT to have optimized them.
    /// </summary>
    public static TimeSpan DefaultWarmUp(string scenario) => scenario == BenchScenarios.Connect ? TimeSpan.FromSeconds(10) : TimeSpan.FromSeconds(2);

    /// <summary>Messages per second offered in total (direct: over all senders; fanout: by the publisher); 0: flat out.</summary>
    public double Rate { get; init; }

    /// <summary>Flat out (rate 0): messages in flight per worker at most; 0 sends open loop, as fast as sockets take them.</summary>
    public int Window { get; init; } = 2000;

    /// <summary>Padding added to each message's data, in bytes.</summary>
    public int PayloadBytes { get; init; }

    /// <summary>Worker processes for the clients; 0 keeps them in this process; null picks by <see cref="ClientsPerWorker"/>.</summary>
    public int? Workers { get; init; }

    /// <summary>The most clients one worker process holds (well under the 20,000 open files of a process).</summary>
    public int ClientsPerWorker { get; init; } = 15_000;

    /// <summary>Connection attempts in flight per worker.</summary>
    public int Concurrency { get; init; } = 64;

    /// <summary>Source addresses for the workers' sockets, one per worker in turn (past the ~28k ports of one address).</summary>
    public IReadOnlyList<string> SourceAddresses { get; init; } = [];

    /// <summary>
    /// <c>kestrel</c> to run the same scenario against a bare Kestrel WebSocket server, side by side; or
    /// <c>node:Key=Value</c> / <c>backplane:Key=Value</c> to run it against a second local cluster with that one setting changed.
    /// </summary>
    public string? Baseline { get; init; }

    /// <summary>Where the JSON and Markdown reports go; null writes none.</summary>
    public string? Out { get; init; }

    /// <summary>Connection cap of each local node.</summary>
    public int MaxConnectionsPerNode { get; init; } = 19_000;

    /// <summary>Extra <c>Node</c> settings for a local cluster (<c>Key=Value</c>).</summary>
    public IReadOnlyList<string> NodeSettings { get; init; } = [];

    /// <summary>Extra <c>Backplane</c> settings for a local cluster (<c>Key=Value</c>).</summary>
    public IReadOnlyList<string> BackplaneSettings { get; init; } = [];

    /// <summary>
    /// Run the scenario once per path of <see cref="Proxying.ProxyPaths"/>: clients straight at their nodes, through
    /// <c>switchboard proxy</c> processes, and through HAProxy, each against a fresh local cluster (<c>--proxy</c>).
    /// </summary>
    public bool Proxy { get; init; }

    /// <summary>The mode of the <c>switchboard proxy</c> processes: <c>tunnel</c> or <c>failover</c>.</summary>
    public string ProxyMode { get; init; } = "tunnel";

    /// <summary>Which paths a <see cref="Proxy"/> run takes, of <see cref="Proxying.ProxyPaths.All"/>.</summary>
    public IReadOnlyList<string> ProxyPathNames { get; init; } = Proxying.ProxyPaths.All;

    /// <summary>Proxy processes per proxied path, clients spread over them in turn; 0 picks one per 9,000 connections.</summary>
    public int ProxyProcesses { get; init; }

    /// <summary>Source addresses for the proxies' upstream sockets (ours: <c>Proxy:SourceAddresses</c>; HAProxy: one per process, in turn).</summary>
    public IReadOnlyList<string> ProxySources { get; init; } = [];

    /// <summary>
    /// The nice value every entry process (switchboard proxy and HAProxy alike) starts with; 0 leaves it. A negative
    /// value lets the proxy's wake-ups go before the nodes and the load generator on a shared machine (as HAProxy's
    /// own <c>nice</c> setting does); it needs root or CAP_SYS_NICE.
    /// </summary>
    public int ProxyNice { get; init; }

    /// <summary>
    /// The real-time priority of our proxy processes' relay thread (<c>Proxy:RelayPriority</c>, 1–99); 0 leaves it under
    /// the normal scheduler. HAProxy has no such setting and is not changed by it.
    /// </summary>
    public int ProxyRelayPriority { get; init; }

    /// <summary>
    /// The reactor threads of our proxy processes (<c>Proxy:RelayThreads</c>, 1–256); 0 leaves the proxy's default (one
    /// per processor, one under a relay priority). HAProxy is not changed by it.
    /// </summary>
    public int ProxyRelayThreads { get; init; }

    /// <summary>
    /// Take the <see cref="Proxy"/> paths at the same time, on one cluster, instead of one after the other: worker
    /// <c>i</c> sends all its clients down path <c>i mod paths</c>, so every path meets the same machine at the same
    /// moment (<c>--interleave</c>, direct only). Connection, message, latency and failure figures are each path's own;
    /// CPU, memory, the connect rate and the process table are the run's as a whole.
    /// </summary>
    public bool Interleave { get; init; }

    /// <summary>
    /// How many times a <see cref="Proxy"/> run takes its paths, in alternating order (given, reversed, given…); the report
    /// gives each figure's median over the rounds and the median of each ratio within a round (<c>--rounds</c>).
    /// </summary>
    public int Rounds { get; init; } = 1;

    /// <summary>The command line, for the report.</summary>
    public string Command { get; init; } = "switchboard bench";

    /// <summary>Throws with the first invalid setting's name.</summary>
    public void Validate()
    {
        if (!BenchScenarios.All.Contains(Scenario))
        {
            throw new ArgumentException($"--scenario must be one of {string.Join(", ", BenchScenarios.All)} (got '{Scenario}').");
        }
        var targets = (Gateway is null ? 0 : 1) + (Node is null ? 0 : 1) + (LocalNodes > 0 ? 1 : 0);
        if (targets != 1)
        {
            throw new ArgumentException("Give exactly one target: --gateway URL, --node ws://… or --cluster local:N.");
        }
        if (Node is not null && string.IsNullOrEmpty(Secret))
        {
            throw new ArgumentException("--node needs --secret (the cluster secret) to sign tickets.");
        }
        var pairs = Scenario is BenchScenarios.Direct or BenchScenarios.Drain or BenchScenarios.Failover;
        if (Clients < 1 || (pairs && Clients < 2))
        {
            throw new ArgumentException($"--clients must be at least {(pairs ? 2 : 1)} (got {Clients}).");
        }
        if (Scenario == BenchScenarios.Failover && (LocalNodes < 2 || Backplane == "memory"))
        {
            throw new ArgumentException("--scenario failover kills a node process: it needs --cluster local:N (N ≥ 2) with --backplane rabbitmq or amqp://….");
        }
        if (Scenario == BenchScenarios.Drain && LocalNodes < 2 && (Gateway is null || AdminKey is null))
        {
            throw new ArgumentException("--scenario drain needs --cluster local:N (N ≥ 2), or --gateway with --admin-key.");
        }
        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(1))
        {
            throw new ArgumentException($"--duration must be between 1 ms and 1 h (got {Duration}).");
        }
        if (WarmUp < TimeSpan.Zero || WarmUp > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentException($"--warmup must be between 0 and 10 minutes (got {WarmUp}).");
        }
        if (Rate < 0 || Window < 0 || PayloadBytes < 0 || PayloadBytes > 60_000)
        {
            throw new ArgumentException("--rate and --window must be 0 or more, --size between 0 and 60000.");
        }
        if (ClientsPerWorker is < 1 or > 19_000)
        {
            throw new ArgumentException($"--clients-per-worker must be between 1 and 19000: a process may hold at most 20,000 open files (got {ClientsPerWorker}).");
        }
        if (Workers is < 0 || Concurrency < 1)
        {
            throw new ArgumentException("--workers must be 0 or more and --concurrency at least 1.");
        }
        if (Workers == 0 && Clients > ClientsPerWorker)
        {
            throw new ArgumentException($"--workers 0 keeps every client in this process: at most --clients-per-worker ({ClientsPerWorker}).");
        }
        if (Baseline is not null && Baseline != "kestrel" && BenchRunner.SettingBaseline(Baseline).Section is null)
        {
            throw new ArgumentException($"--baseline must be 'kestrel', 'node:Key=Value' or 'backplane:Key=Value' (got '{Baseline}').");
        }
        if (Baseline is not null && Baseline != "kestrel" && LocalNodes == 0)
        {
            throw new ArgumentException($"--baseline {Baseline} runs a second local cluster: it needs --cluster local:N.");
        }
        ValidateProxy();
        foreach (var address in SourceAddresses)
        {
            if (!System.Net.IPAddress.TryParse(address, out _))
            {
                throw new ArgumentException($"--source: '{address}' is not an IP address.");
            }
        }
    }

    private void ValidateInterleave()
    {
        if (Scenario != BenchScenarios.Direct)
        {
            throw new ArgumentException($"--interleave splits one run's traffic between the paths: it goes with --scenario direct only (got '{Scenario}').");
        }
        if (ProxyPathNames.Count < 2)
        {
            throw new ArgumentException("--interleave runs the paths side by side: --proxy-paths must name at least two.");
        }
        if (Workers == 0)
        {
            throw new ArgumentException("--interleave gives each path its own worker processes: --workers 0 cannot (any other count is rounded up to a multiple of the paths).");
        }
        if (Clients < 2 * ProxyPathNames.Count)
        {
            throw new ArgumentException($"--interleave pairs each path's clients among themselves: --clients must be at least 2 per path ({2 * ProxyPathNames.Count}; got {Clients}).");
        }
    }

    private void ValidateProxy()
    {
        if (Rounds is < 1 or > 20)
        {
            throw new ArgumentException($"--rounds must be between 1 and 20 (got {Rounds}).");
        }
        if (!Proxy)
        {
            if (ProxyMode != "tunnel" || ProxyProcesses != 0 || ProxySources.Count > 0 || !ProxyPathNames.SequenceEqual(Proxying.ProxyPaths.All) || Rounds != 1 || ProxyNice != 0 || Interleave || ProxyRelayPriority != 0 || ProxyRelayThreads != 0)
            {
                throw new ArgumentException("--proxy-mode, --proxy-paths, --proxy-processes, --proxy-sources, --proxy-nice, --proxy-relay-priority, --proxy-relay-threads, --interleave and --rounds only go with --proxy.");
            }
            return;
        }
        if (Interleave)
        {
            ValidateInterleave();
        }
        if (ProxyRelayPriority > 0 && ProxyMode == "failover")
        {
            throw new ArgumentException("--proxy-relay-priority is for tunnel mode: failover-mode proxies have no relay thread.");
        }
        if (ProxyRelayThreads != 0 && ProxyMode == "failover")
        {
            throw new ArgumentException("--proxy-relay-threads is for tunnel mode: failover-mode proxies have no relay threads.");
        }
        if (LocalNodes == 0)
        {
            throw new ArgumentException("--proxy starts proxies in front of nodes the bench starts itself: it needs --cluster local:N.");
        }
        if (Backplane == "memory")
        {
            throw new ArgumentException("--proxy needs --backplane rabbitmq (or amqp://…): the proxy learns the nodes, and routes each ticket to its node, from their heartbeats on the broker.");
        }
        if (Baseline is not null)
        {
            throw new ArgumentException("--proxy and --baseline each add runs beside the first: give one of them.");
        }
        if (ProxyNice is < Proxying.Niceness.Lowest or > Proxying.Niceness.Highest)
        {
            throw new ArgumentException($"--proxy-nice must be between {Proxying.Niceness.Lowest} and {Proxying.Niceness.Highest} (got {ProxyNice}).");
        }
        if (ProxyRelayPriority is < 0 or > 99)
        {
            throw new ArgumentException($"--proxy-relay-priority must be 0 (the normal scheduler) or a real-time priority from 1 to 99 (got {ProxyRelayPriority}).");
        }
        if (ProxyRelayThreads is < 0 or > 256)
        {
            throw new ArgumentException($"--proxy-relay-threads must be 0 (the proxy's default) or from 1 to 256 (got {ProxyRelayThreads}).");
        }
        if (ProxyMode is not ("tunnel" or "failover"))
        {
            throw new ArgumentException($"--proxy-mode must be tunnel or failover (got '{ProxyMode}'): tcp mode does not read the request, so it cannot route a ticket to its node.");
        }
        if (ProxyPathNames.Count == 0 || ProxyPathNames.Any(p => !Proxying.ProxyPaths.Known.Contains(p)) || ProxyPathNames.Distinct().Count() != ProxyPathNames.Count)
        {
            throw new ArgumentException($"--proxy-paths takes some of {string.Join(", ", Proxying.ProxyPaths.Known)}, each once (got '{string.Join(",", ProxyPathNames)}').");
        }
        var connections = Clients + (Scenario == BenchScenarios.Fanout ? 1 : 0);
        var processes = ProxyProcesses == 0 ? Proxying.ProxyPaths.ProcessesFor(connections) : ProxyProcesses;
        if (ProxyProcesses < 0 || Math.Ceiling(connections / (double)processes) > Proxying.ProxyPaths.ConnectionsPerProcess)
        {
            throw new ArgumentException($"--proxy-processes {ProxyProcesses}: {connections:#,0} connections need at least {Math.Ceiling(connections / (double)Proxying.ProxyPaths.ConnectionsPerProcess):0} proxy processes "
                + $"(each holds {Proxying.ProxyPaths.ConnectionsPerProcess:#,0} at most: a client and an upstream socket per connection, and a process may hold 20,000 open files).");
        }
        foreach (var address in ProxySources)
        {
            if (!System.Net.IPAddress.TryParse(address, out _))
            {
                throw new ArgumentException($"--proxy-sources: '{address}' is not an IP address.");
            }
        }
    }
}
