using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Backplane;
using Switchboard.Node;

namespace Switchboard.Hosting;

/// <summary>
/// A gateway and N nodes in one process on one backplane: what <c>switchboard up</c> runs, and what the
/// functional tests start. Each role is its own Kestrel server, exactly as it would be in its own process.
/// </summary>
public sealed class EmbeddedCluster : IAsyncDisposable
{
    private readonly WebApplication _gateway;
    private readonly bool _ownsBackplane;

    private EmbeddedCluster(WebApplication gateway, Uri gatewayUrl, IReadOnlyList<EmbeddedNode> nodes, IBackplane backplane, bool ownsBackplane)
    {
        _gateway = gateway;
        GatewayUrl = gatewayUrl;
        Nodes = nodes;
        Backplane = backplane;
        _ownsBackplane = ownsBackplane;
    }

    /// <summary>The gateway's base URL, e.g. <c>http://127.0.0.1:7000</c>.</summary>
    public Uri GatewayUrl { get; }

    /// <summary>The nodes, in id order (<c>node-1</c>, <c>node-2</c>, …).</summary>
    public IReadOnlyList<EmbeddedNode> Nodes { get; }

    /// <summary>The backplane the roles share.</summary>
    public IBackplane Backplane { get; }

    /// <summary>The gateway's services (for tests and diagnostics).</summary>
    public IServiceProvider GatewayServices => _gateway.Services;

    /// <summary>Starts the nodes, then the gateway, and returns once every role listens and the gateway has heard from every node.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="IOException">A port is in use (the message names it).</exception>
    public static async Task<EmbeddedCluster> StartAsync(EmbeddedClusterOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Nodes is < 1 or > 64)
        {
            throw new ArgumentException($"--nodes must be between 1 and 64 (is {options.Nodes}).");
        }
        if (options.GatewayPort is < 0 || options.GatewayPort + options.Nodes > 65535)
        {
            throw new ArgumentException($"--port {options.GatewayPort} leaves no room for {options.Nodes} node ports below 65536.");
        }
        var secret = options.ClusterSecret ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var ownsBackplane = options.Backplane is null;
        var backplane = options.Backplane ?? new InMemoryBackplane();
        var nodes = new List<EmbeddedNode>();
        WebApplication? gateway = null;
        try
        {
            for (var i = 1; i <= options.Nodes; i++)
            {
                var port = options.GatewayPort == 0 ? 0 : options.GatewayPort + i;
                var nodeId = $"node-{i}";
                var app = await RoleHost.StartNodeAsync(new RoleHostOptions(options.Host, port, options.ConfigureLogging), backplane, o =>
                {
                    options.ConfigureNode?.Invoke(o);
                    options.ConfigureNodeById?.Invoke(nodeId, o);
                    // Identity and secret belong to the cluster layout, whatever shared settings say.
                    o.NodeId = nodeId;
                    o.ClusterSecret = secret;
                }, cancellationToken).ConfigureAwait(false);
                nodes.Add(new EmbeddedNode(app, app.Services.GetRequiredService<SwitchboardNode>(), new Uri(app.Urls.First())));
            }
            gateway = await RoleHost.StartGatewayAsync(new RoleHostOptions(options.Host, options.GatewayPort, options.ConfigureLogging), backplane, o =>
            {
                // Nodes in one process share one CPU, so each node's CPU figure says nothing about that node:
                // place on connections alone unless configured otherwise.
                o.CpuWeight = 0;
                options.ConfigureGateway?.Invoke(o);
                o.ClusterSecret = secret;
            }, cancellationToken).ConfigureAwait(false);
            var gatewayUrl = new Uri(gateway.Urls.First());
            var cluster = new EmbeddedCluster(gateway, gatewayUrl, nodes, backplane, ownsBackplane);
            // The first heartbeats were sent before the gateway observed; make every node visible before returning.
            foreach (var node in nodes)
            {
                await node.Node.PublishHeartbeatNowAsync(cancellationToken).ConfigureAwait(false);
            }
            return cluster;
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.StopAsync().ConfigureAwait(false);
            }
            if (gateway is not null)
            {
                await gateway.DisposeAsync().ConfigureAwait(false);
            }
            if (ownsBackplane)
            {
                await backplane.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>Finds a node by id.</summary>
    public EmbeddedNode Node(string nodeId) =>
        Nodes.FirstOrDefault(n => n.NodeId == nodeId) ?? throw new ArgumentException($"No node '{nodeId}' in this cluster.", nameof(nodeId));

    /// <summary>Stops one node: its clients are closed with 1012 and it leaves the cluster.</summary>
    public Task StopNodeAsync(string nodeId) => Node(nodeId).StopAsync();

    /// <summary>Stops every node (clients get 1012), then the gateway.</summary>
    public async ValueTask DisposeAsync()
    {
        // Every role is stopped even when another one fails to stop; the failures are reported together.
        var stopping = Task.WhenAll(Nodes.Select(n => n.StopAsync()));
        try
        {
            await stopping.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await _gateway.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                await _gateway.DisposeAsync().ConfigureAwait(false);
                if (_ownsBackplane)
                {
                    await Backplane.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }
}

/// <summary>One node of an <see cref="EmbeddedCluster"/>.</summary>
public sealed class EmbeddedNode
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private Task? _stopping;

    internal EmbeddedNode(WebApplication app, SwitchboardNode node, Uri httpUrl)
    {
        _app = app;
        Node = node;
        HttpUrl = httpUrl;
    }

    /// <summary>The node.</summary>
    public SwitchboardNode Node { get; }

    /// <summary>The node's id.</summary>
    public string NodeId => Node.NodeId;

    /// <summary>The node's HTTP base URL (health endpoints).</summary>
    public Uri HttpUrl { get; }

    /// <summary>The node's WebSocket URL (without a ticket).</summary>
    public Uri WebSocketUrl => new(Node.Url!);

    /// <summary>Connections the node holds now.</summary>
    public int ConnectionCount => Node.Hub.Count;

    /// <summary>False once the node has been stopped.</summary>
    public bool IsRunning => _stopping is null;

    /// <summary>Stops the node (clients get 1012) and its server. Safe to call more than once.</summary>
    public Task StopAsync()
    {
        lock (_lock)
        {
            return _stopping ??= StopCoreAsync();
        }
    }

    private async Task StopCoreAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
