using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Gateway;
using Switchboard.Node;

namespace Switchboard.Hosting;

/// <summary>How <see cref="EmbeddedCluster"/> lays out a gateway and its nodes in one process.</summary>
public sealed class EmbeddedClusterOptions
{
    /// <summary>Number of nodes (1–64).</summary>
    public int Nodes { get; set; } = 3;

    /// <summary>The address every role listens on.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>The gateway's port; nodes take the ports after it. 0 lets the system pick free ports for all of them.</summary>
    public int GatewayPort { get; set; }

    /// <summary>The cluster secret for tickets; a random one when null (nothing outside the process needs it).</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>The backplane the nodes share; a new <see cref="InMemoryBackplane"/> when null.</summary>
    public IBackplane? Backplane { get; set; }

    /// <summary>Applied to every node's options after the cluster's own settings.</summary>
    public Action<NodeOptions>? ConfigureNode { get; set; }

    /// <summary>Applied to one node's options, by node id, after <see cref="ConfigureNode"/>.</summary>
    public Action<string, NodeOptions>? ConfigureNodeById { get; set; }

    /// <summary>Applied to the gateway's options after the cluster's own settings.</summary>
    public Action<GatewayOptions>? ConfigureGateway { get; set; }

    /// <summary>Logging for every role; warnings and errors to the console when null.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; set; }
}
