using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Switchboard.Security.Tickets;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// Gateways and nodes as separate <c>switchboard</c> processes on one RabbitMQ broker, sharing a name prefix of
/// their own so tests on the same broker never meet.
/// </summary>
internal sealed partial class ProcessCluster(Uri broker) : IAsyncDisposable
{
    public const string Secret = "multi-process-test-secret-0123456789abcdef";

    private readonly List<CliProcess> _processes = [];
    private readonly Dictionary<string, (CliProcess Process, Uri Url)> _nodes = new();

    public Uri Broker { get; } = broker;

    public string Prefix { get; } = $"mp{Guid.NewGuid():N}";

    public Uri? Gateway { get; private set; }

    /// <summary>More environment variables for every process started after they are set (configuration keys, say).</summary>
    public Dictionary<string, string> ExtraEnvironment { get; } = [];

    public IReadOnlyDictionary<string, string> Environment =>
        new Dictionary<string, string>(ExtraEnvironment) { ["SWITCHBOARD__Backplane__Prefix"] = Prefix };

    /// <summary>The process of a node started with <see cref="StartNodeAsync"/>.</summary>
    public CliProcess NodeProcess(string nodeId) => _nodes[nodeId].Process;

    public async Task<Uri> StartGatewayAsync(params string[] extraArguments)
    {
        var process = Start(["gateway", "--backplane", Broker.ToString(), "--port", "0", "--secret", Secret, "--dev", "--api-key", "test-key", "--policy", "least-connections", .. extraArguments]);
        await process.WaitForLineAsync(l => l.StartsWith("gateway listening on", StringComparison.Ordinal), "the gateway to listen");
        GatewayProcess = process;
        Gateway = new Uri(GatewayLine().Match(process.Line(l => l.StartsWith("gateway listening on", StringComparison.Ordinal))).Groups[1].Value);
        return Gateway;
    }

    /// <summary>The gateway's process (after <see cref="StartGatewayAsync"/>).</summary>
    public CliProcess? GatewayProcess { get; private set; }

    public async Task<Uri> StartNodeAsync(string nodeId)
    {
        var process = Start("node", "--backplane", Broker.ToString(), "--node-id", nodeId, "--port", "0", "--secret", Secret);
        var prefix = $"node {nodeId} listening on";
        await process.WaitForLineAsync(l => l.StartsWith(prefix, StringComparison.Ordinal), $"{nodeId} to listen");
        var url = new Uri(NodeLine().Match(process.Line(l => l.StartsWith(prefix, StringComparison.Ordinal))).Groups[1].Value);
        _nodes[nodeId] = (process, url);
        return url;
    }

    /// <summary>SIGKILL: the process gets no chance to say goodbye.</summary>
    public void Kill(string nodeId) => _nodes[nodeId].Process.KillHard();

    /// <summary>Connects <paramref name="userId"/> straight to a node with a ticket, and waits for the welcome.</summary>
    public Task<RawClient> ConnectAsync(string userId, string nodeId) => OpenAsync(userId, nodeId, Guid.NewGuid().ToString("N"), resume: false);

    /// <summary>Connects <paramref name="userId"/> to a node with a resume ticket for <paramref name="session"/>, sends <c>resume</c> and waits for the welcome.</summary>
    public Task<RawClient> ResumeAsync(string userId, string nodeId, string session) => OpenAsync(userId, nodeId, session, resume: true);

    private async Task<RawClient> OpenAsync(string userId, string nodeId, string session, bool resume)
    {
        var (token, _) = new TicketIssuer(Secret).Issue(userId, nodeId, session, TimeSpan.FromMinutes(1), resume);
        var client = await RawClient.OpenAsync(new Uri($"{_nodes[nodeId].Url}?token={Uri.EscapeDataString(token)}"));
        if (resume)
        {
            await client.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0}""");
        }
        var welcome = await client.ReceiveAsync("welcome");
        welcome.GetProperty("node").GetString().ShouldBe(nodeId);
        return client.WithWelcome(welcome);
    }

    /// <summary>The node ids the gateway would place on now.</summary>
    public async Task<string[]> GatewayNodesAsync()
    {
        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(Gateway!, "/v1/nodes")));
        return json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("nodeId").GetString()!).Order().ToArray();
    }

    /// <summary>Waits until the gateway has seen <paramref name="nodeId"/>'s heartbeat that says it is draining.</summary>
    public async Task WaitForGatewayToSeeDrainingAsync(string nodeId)
    {
        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        var deadline = DateTime.UtcNow + Eventually.DefaultTimeout;
        while (true)
        {
            using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(Gateway!, "/v1/nodes")));
            if (json.RootElement.GetProperty("nodes").EnumerateArray()
                .Any(n => n.GetProperty("nodeId").GetString() == nodeId && n.GetProperty("draining").GetBoolean()))
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: the gateway to see {nodeId} draining");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the gateway sees exactly <paramref name="nodeIds"/>.</summary>
    public async Task WaitForGatewayNodesAsync(string what, TimeSpan? timeout = null, params string[] nodeIds)
    {
        var expected = nodeIds.Order().ToArray();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!(await GatewayNodesAsync()).SequenceEqual(expected))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what} (gateway sees {string.Join(", ", await GatewayNodesAsync())})");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Publishes through the gateway's API.</summary>
    public async Task PublishAsync(string to, string data)
    {
        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Gateway!, "/v1/publish"))
        {
            Content = JsonContent.Create(new Dictionary<string, string> { ["to"] = to, ["data"] = data }),
        };
        request.Headers.Add("X-Api-Key", "test-key");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
    }

    private CliProcess Start(params string[] arguments)
    {
        var process = CliProcess.Start(Environment, arguments);
        _processes.Add(process);
        return process;
    }

    [GeneratedRegex(@"^gateway listening on (\S+)")]
    private static partial Regex GatewayLine();

    [GeneratedRegex(@"listening on (ws://\S+)")]
    private static partial Regex NodeLine();
}
