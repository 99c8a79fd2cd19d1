using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Targets;

/// <summary>How <see cref="LocalCluster"/> lays out the system under test.</summary>
public sealed record LocalClusterOptions
{
    /// <summary>Node count.</summary>
    public int Nodes { get; init; } = 3;

    /// <summary><c>memory</c> (one <c>switchboard up</c> process), <c>rabbitmq</c> (a private broker, one process per role) or an <c>amqp://</c> URL.</summary>
    public string Backplane { get; init; } = "memory";

    /// <summary>Connection cap of each node.</summary>
    public int MaxConnectionsPerNode { get; init; } = 19_000;

    /// <summary>Whether nodes accept WebSockets on their lean data-plane listener (<c>--ws-port</c>), as a dense deployment would.</summary>
    public bool DataPlane { get; init; } = true;

    /// <summary>Extra node settings (<c>Key=Value</c> of the <c>Node</c> section), e.g. <c>RateLimitPerSecond=0</c>.</summary>
    public IReadOnlyList<string> NodeSettings { get; init; } = [];

    /// <summary>Extra backplane settings (<c>Key=Value</c> of the <c>Backplane</c> section), e.g. <c>Coalescing=false</c>.</summary>
    public IReadOnlyList<string> BackplaneSettings { get; init; } = [];
}

/// <summary>One process of the system under test, and which nodes it holds.</summary>
/// <param name="Name">What the report calls it.</param>
/// <param name="ProcessId">Its pid, for /proc.</param>
/// <param name="NodeIds">The nodes it holds; empty for a process that holds every client (the baseline).</param>
/// <param name="HoldsConnections">False for the processes that serve no client socket (gateway, broker): sampled, but not per connection.</param>
/// <param name="EntryPoint">A proxy in front of the nodes (ours or HAProxy): it holds the connections it reports itself.</param>
public sealed record ClusterProcess(string Name, int ProcessId, IReadOnlyList<string> NodeIds, bool HoldsConnections = true, bool EntryPoint = false);

/// <summary>
/// The system under test, started by the bench so that one command reproduces a figure: a gateway and N nodes as
/// <c>switchboard</c> processes (one <c>up</c> process on the in-process backplane, or a process per role over
/// RabbitMQ, with a private broker when asked), stopped again afterwards.
/// </summary>
public sealed partial class LocalCluster : IAsyncDisposable
{
    /// <summary>The API key the bench's gateway accepts on <c>/v1/publish</c>.</summary>
    public const string ApiKey = "bench-api-key";

    /// <summary>The admin key the bench's gateway accepts (drain).</summary>
    public const string AdminKey = "bench-admin-key";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<ManagedProcess> _processes = [];
    private readonly Dictionary<string, ManagedProcess> _nodes = [];
    private readonly List<ClusterProcess> _described = [];
    private string? _brokerFolder;
    private string? _brokerScript;

    private LocalCluster()
    {
    }

    /// <summary>The gateway's base URL.</summary>
    public Uri GatewayUrl { get; private set; } = null!;

    /// <summary>The processes the report samples: nodes, gateway and, when the bench started it, the broker.</summary>
    public IReadOnlyList<ClusterProcess> NodeProcesses => _described;

    /// <summary>The broker's URL when the cluster runs over RabbitMQ.</summary>
    public Uri? Broker { get; private set; }

    /// <summary>How the cluster is laid out, for the report.</summary>
    public string Description { get; private set; } = "";

    /// <summary>Node count.</summary>
    public int NodeCount { get; private set; }

    /// <summary>The environment every role of this cluster runs with (cluster secret, backplane prefix, settings), for roles started beside it.</summary>
    internal IReadOnlyDictionary<string, string> RoleEnvironment { get; private set; } = new Dictionary<string, string>();

    /// <summary>Starts everything and returns once the gateway sees every node.</summary>
    public static async Task<LocalCluster> StartAsync(LocalClusterOptions options, Action<string>? log, CancellationToken cancellationToken)
    {
        if (options.Nodes is < 1 or > 64)
        {
            throw new ArgumentException($"--cluster local:N takes 1 to 64 nodes (got {options.Nodes}).");
        }
        var cluster = new LocalCluster();
        try
        {
            await cluster.StartCoreAsync(options, log ?? (_ => { }), cancellationToken).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(LocalClusterOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var environment = new Dictionary<string, string>
        {
            ["SWITCHBOARD__Cluster__Secret"] = secret,
            ["SWITCHBOARD__Gateway__ApiKeys__0"] = ApiKey,
            ["SWITCHBOARD__Gateway__AdminKeys__0"] = AdminKey,
        };
        RoleEnvironment = environment;
        NodeCount = options.Nodes;
        AddSettings(environment, "Node", options.NodeSettings);
        AddSettings(environment, "Backplane", options.BackplaneSettings);
        if (options.Backplane == "memory")
        {
            var up = Start("up", environment, "up", "--nodes", Str(options.Nodes), "--port", "0", "--max-connections", Str(options.MaxConnectionsPerNode));
            var line = await up.WaitForLineAsync(l => l.TrimStart().StartsWith("gateway ", StringComparison.Ordinal), StartTimeout, cancellationToken).ConfigureAwait(false);
            GatewayUrl = new Uri(UrlIn().Match(line).Value);
            _described.Add(new ClusterProcess("up", up.Id, [.. Enumerable.Range(1, options.Nodes).Select(i => $"node-{i}")]));
            Description = $"switchboard up: {options.Nodes} nodes and a gateway in one process, in-process backplane";
        }
        else
        {
            Broker = options.Backplane == "rabbitmq" ? await StartBrokerAsync(log, cancellationToken).ConfigureAwait(false) : new Uri(options.Backplane);
            var brokerArg = Broker.ToString();
            environment["SWITCHBOARD__Backplane__Prefix"] = $"bench{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
            var starting = new List<Task>();
            for (var i = 1; i <= options.Nodes; i++)
            {
                var nodeId = $"node-{i}";
                var args = new List<string> { "node", "--backplane", brokerArg, "--node-id", nodeId, "--port", "0", "--max-connections", Str(options.MaxConnectionsPerNode) };
                if (options.DataPlane)
                {
                    args.AddRange(["--ws-port", "0"]);
                }
                var node = Start(nodeId, environment, [.. args]);
                _nodes[nodeId] = node;
                _described.Add(new ClusterProcess(nodeId, node.Id, [nodeId]));
                starting.Add(node.WaitForLineAsync(l => l.StartsWith($"node {nodeId} listening on", StringComparison.Ordinal), StartTimeout, cancellationToken));
            }
            var gateway = Start("gateway", environment, "gateway", "--backplane", brokerArg, "--port", "0", "--dev", "--policy", "least-connections");
            _described.Add(new ClusterProcess("gateway", gateway.Id, [], HoldsConnections: false));
            var gatewayLine = await gateway.WaitForLineAsync(l => l.StartsWith("gateway listening on", StringComparison.Ordinal), StartTimeout, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(starting).ConfigureAwait(false);
            GatewayUrl = new Uri(UrlIn().Match(gatewayLine).Value);
            Description = $"{options.Nodes} node processes{(options.DataPlane ? " (data-plane listener)" : "")} and a gateway over RabbitMQ ({(options.Backplane == "rabbitmq" ? "private broker" : "given broker")})";
        }
        await WaitForNodesAsync(options.Nodes, cancellationToken).ConfigureAwait(false);
        log($"cluster up: {Description}; gateway {GatewayUrl}");
    }

    /// <summary>Drains a node through the gateway's admin API, or kills its process with SIGKILL (a process per node only).</summary>
    public Task MoveAsync(string how, string nodeId, CancellationToken cancellationToken)
    {
        if (how != BenchScenarios.Failover)
        {
            return AdminClient.DrainAsync(GatewayUrl, AdminKey, nodeId, cancellationToken);
        }
        if (!_nodes.TryGetValue(nodeId, out var process))
        {
            throw new InvalidOperationException($"{nodeId} does not run in a process of its own: failover needs --backplane rabbitmq.");
        }
        process.KillHard();
        return Task.CompletedTask;
    }

    /// <summary>What the nodes report in their latest heartbeats, through the gateway: total connections.</summary>
    public static async Task<long?> ReportedConnectionsAsync(Uri gateway, CancellationToken cancellationToken)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(gateway, "/v1/nodes"), cancellationToken).ConfigureAwait(false));
            return json.RootElement.GetProperty("nodes").EnumerateArray().Sum(n => n.GetProperty("connections").GetInt64());
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Every node the gateway knows, with its WebSocket address.</summary>
    internal static async Task<IReadOnlyList<Proxying.NodeEndpoint>> NodesAsync(Uri gateway, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var nodes = await http.GetFromJsonAsync<JsonElement>(new Uri(gateway, "/v1/nodes"), cancellationToken).ConfigureAwait(false);
        return [.. nodes.GetProperty("nodes").EnumerateArray()
            .Select(n => new Proxying.NodeEndpoint(n.GetProperty("nodeId").GetString()!, new Uri(n.GetProperty("url").GetString()!)))
            .OrderBy(n => n.NodeId, StringComparer.Ordinal)];
    }

    public async ValueTask DisposeAsync()
    {
        // Nodes and gateways first (they close their clients), the broker last.
        await Task.WhenAll(_processes.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        if (_brokerFolder is not null && _brokerScript is not null)
        {
            using var stop = Process.Start(new ProcessStartInfo(_brokerScript, ["stop", _brokerFolder]) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (stop is not null)
            {
                await stop.WaitForExitAsync().ConfigureAwait(false);
            }
            try
            {
                Directory.Delete(_brokerFolder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task WaitForNodesAsync(int expected, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            try
            {
                var nodes = await http.GetFromJsonAsync<JsonElement>(new Uri(GatewayUrl, "/v1/nodes"), cancellationToken).ConfigureAwait(false);
                if (nodes.GetProperty("nodes").GetArrayLength() >= expected)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The gateway did not see {expected} nodes within {StartTimeout.TotalSeconds:0} s.");
            }
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<Uri> StartBrokerAsync(Action<string> log, CancellationToken cancellationToken)
    {
        _brokerScript = FindScript("scripts/rabbitmq.sh")
            ?? throw new InvalidOperationException("--backplane rabbitmq needs scripts/rabbitmq.sh (run the bench from a checkout) or an amqp:// URL.");
        _brokerFolder = Directory.CreateTempSubdirectory("switchboard-bench-broker-").FullName;
        log("starting a private RabbitMQ broker…");
        using var start = Process.Start(new ProcessStartInfo(_brokerScript, ["start", _brokerFolder]) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException("Could not run scripts/rabbitmq.sh.");
        var output = await start.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        var errors = await start.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await start.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (start.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/rabbitmq.sh start failed: {errors.Trim()}");
        }
        if (int.TryParse(File.Exists(Path.Combine(_brokerFolder, "broker.pid")) ? File.ReadAllText(Path.Combine(_brokerFolder, "broker.pid")).Trim() : "", out var pid))
        {
            _described.Add(new ClusterProcess("rabbitmq", pid, [], HoldsConnections: false));
        }
        return new Uri(output.Trim().Split('\n').Last().Trim());
    }

    private static string? FindScript(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relative);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    private ManagedProcess Start(string name, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var process = ManagedProcess.Start(name, SelfProcess.StartInfo(arguments), environment);
        _processes.Add(process);
        return process;
    }

    private static void AddSettings(Dictionary<string, string> environment, string section, IReadOnlyList<string> settings)
    {
        foreach (var setting in settings)
        {
            var parts = setting.Split('=', 2);
            if (parts.Length != 2 || parts[0].Length == 0)
            {
                throw new ArgumentException($"A {section.ToLowerInvariant()} setting must be Key=Value (got '{setting}').");
            }
            environment[$"SWITCHBOARD__{section}__{parts[0].Replace(":", "__", StringComparison.Ordinal)}"] = parts[1];
        }
    }

    private static string Str(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"https?://[^\s]+")]
    private static partial Regex UrlIn();
}
