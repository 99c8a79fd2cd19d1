using Switchboard.Hosting;
using Shouldly;
using Switchboard.Security.Tickets;

namespace Switchboard.Tests.Common;

/// <summary>
/// An <see cref="EmbeddedCluster"/> on loopback with a known cluster secret, so tests can also mint tickets
/// for a chosen node, as a gateway would.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    /// <summary>The cluster secret every test cluster uses.</summary>
    public const string Secret = "test-cluster-secret-0123456789-abcdefghijkl";

    private TestCluster(EmbeddedCluster cluster) => Cluster = cluster;

    /// <summary>The running cluster.</summary>
    public EmbeddedCluster Cluster { get; }

    /// <summary>The gateway's base URL.</summary>
    public Uri Gateway => Cluster.GatewayUrl;

    /// <summary>Starts a dev-mode cluster of <paramref name="nodes"/> nodes; <paramref name="configure"/> adjusts the options.</summary>
    public static async Task<TestCluster> StartAsync(int nodes = 3, Action<EmbeddedClusterOptions>? configure = null)
    {
        var options = new EmbeddedClusterOptions
        {
            Nodes = nodes,
            ClusterSecret = Secret,
            ConfigureGateway = g =>
            {
                g.DevMode = true;
                g.ApiKeys = ["test-key"];
            },
        };
        configure?.Invoke(options);
        return new TestCluster(await EmbeddedCluster.StartAsync(options).WaitAsync(Eventually.DefaultTimeout));
    }

    /// <summary>A node's WebSocket URL with a ticket for <paramref name="userId"/>, issued with the cluster secret.</summary>
    public Uri TicketUrl(string userId, string nodeId, TimeSpan? lifetime = null, string? secret = null, string? ticketNodeId = null)
    {
        var (token, _) = new TicketIssuer(secret ?? Secret).Issue(userId, ticketNodeId ?? nodeId, Guid.NewGuid().ToString("N"), lifetime ?? TimeSpan.FromMinutes(1));
        return new Uri($"{Cluster.Node(nodeId).WebSocketUrl}?token={Uri.EscapeDataString(token)}");
    }

    /// <summary>A node's WebSocket URL with a resume ticket for <paramref name="session"/>, as the gateway issues for <c>/v1/connect?session=…</c>.</summary>
    public Uri ResumeTicketUrl(string userId, string nodeId, string session)
    {
        var (token, _) = new TicketIssuer(Secret).Issue(userId, nodeId, session, TimeSpan.FromMinutes(1), resume: true);
        return new Uri($"{Cluster.Node(nodeId).WebSocketUrl}?token={Uri.EscapeDataString(token)}");
    }

    /// <summary>
    /// Opens a resume-ticket connection for <paramref name="session"/> on a node, sends <c>resume</c> with
    /// <paramref name="lastSeq"/> as its first frame, and returns the client with the welcome that answers it.
    /// </summary>
    public async Task<RawClient> ResumeAsync(string userId, string nodeId, string session, long lastSeq, string? frameSession = null)
    {
        var client = await RawClient.OpenAsync(ResumeTicketUrl(userId, nodeId, session));
        await client.SendAsync($$"""{"type":"resume","session":"{{frameSession ?? session}}","lastSeq":{{lastSeq}}}""");
        var welcome = await client.ReceiveAsync("the welcome answering resume");
        welcome.GetProperty("type").GetString().ShouldBe("welcome");
        return client.WithWelcome(welcome);
    }

    /// <summary>Connects <paramref name="userId"/> to a chosen node and waits for the welcome.</summary>
    public async Task<RawClient> ConnectAsync(string userId, string nodeId)
    {
        var client = await RawClient.OpenAsync(TicketUrl(userId, nodeId));
        var welcome = await client.ReceiveAsync("welcome");
        welcome.GetProperty("node").GetString().ShouldBe(nodeId);
        return client.WithWelcome(welcome);
    }

    /// <summary>
    /// Waits until <paramref name="observerNode"/> knows <paramref name="userId"/> is on exactly <paramref name="nodes"/>:
    /// presence reaches other nodes shortly after the welcome (deltas are coalesced), so a test that sends to a user it
    /// has just connected elsewhere waits for it first.
    /// </summary>
    public Task WaitForPresenceAsync(string observerNode, string userId, params string[] nodes)
    {
        var directory = Cluster.Node(observerNode).Node.Cluster.Directory;
        return Eventually.TrueAsync(() => directory.GetNodes(userId).Order(StringComparer.Ordinal).SequenceEqual(nodes.Order(StringComparer.Ordinal)),
            $"{observerNode} to learn that {userId} is on {string.Join(", ", nodes)}");
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}
