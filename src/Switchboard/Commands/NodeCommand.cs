using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Hosting;
using Switchboard.Node;

namespace Switchboard.Commands;

/// <summary><c>switchboard node</c>: one node in this process, on RabbitMQ with <c>--backplane</c> (or alone, in-process).</summary>
internal static class NodeCommand
{
    public static Command Create(Option<string?> configOption)
    {
        var backplane = BackplaneSetup.CreateOption();
        var nodeId = new Option<string?>("--node-id") { Description = "The node's id, unique in the cluster (default: Node:NodeId, else node-<machine>-<port>)" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => 7001 };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var publicUrl = new Option<string?>("--public-url") { Description = "The ws:// URL clients reach this node at (default: the listening address)" };
        var secret = new Option<string?>("--secret") { Description = "Cluster secret shared with the gateways (default: Cluster:Secret)" };
        var maxConnections = new Option<int?>("--max-connections") { Description = "Connection cap" };
        var wsPort = new Option<int?>("--ws-port") { Description = "Also accept WebSockets on this port with the lean data-plane listener, and send clients there (0: any free port)" };
        var verbose = new Option<bool>("--verbose") { Description = "Log lifecycle events, not only warnings" };
        var command = new Command("node", "Run one node (holds client WebSockets; joins the backplane)")
        {
            backplane, nodeId, port, host, publicUrl, secret, maxConnections, wsPort, verbose,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!RoleCommand.TryLoad(parse, configOption, backplane, out var configuration, out var brokerUrl))
            {
                return 2;
            }
            var clusterSecret = RoleCommand.ClusterSecret(parse.GetValue(secret), configuration);
            if (clusterSecret is null)
            {
                Console.Error.WriteLine("error: a node needs the cluster secret its gateways sign tickets with: --secret or Cluster:Secret.");
                return 2;
            }
            var listenPort = parse.GetValue(port);
            var listenHost = parse.GetValue(host)!;
            // Unique per machine and port; with --port 0 the port is not known yet, so a random suffix stands in.
            var id = parse.GetValue(nodeId) ?? configuration["Node:NodeId"]
                ?? $"node-{Environment.MachineName}-{(listenPort == 0 ? Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)) : listenPort)}".ToLowerInvariant();
            return await RoleCommand.RunAsync(brokerUrl, configuration, parse.GetValue(verbose), $"switchboard node {id}",
                (bus, logging) => RoleHost.StartNodeAsync(new RoleHostOptions(listenHost, listenPort, logging), bus, o =>
                {
                    configuration.GetSection("Node").Bind(o);
                    o.NodeId = id;
                    o.ClusterSecret = clusterSecret;
                    o.PublicUrl = parse.GetValue(publicUrl) ?? o.PublicUrl;
                    o.MaxConnections = parse.GetValue(maxConnections) ?? o.MaxConnections;
                    if (parse.GetValue(wsPort) is { } dataPlanePort)
                    {
                        o.DataPlanePort = dataPlanePort;
                        o.DataPlaneAddress = listenHost;
                    }
                }, cancellationToken),
                (app, described) =>
                {
                    var node = app.Services.GetRequiredService<SwitchboardNode>();
                    Console.WriteLine($"node {node.NodeId} listening on {node.Url} ({described}); health {app.Urls.First()}/readyz. Ctrl+C or SIGTERM drains it.");
                },
                cancellationToken,
                // SIGTERM (or Ctrl+C) drains: clients move to other nodes and resume there before this one exits.
                beforeStop: app =>
                {
                    var node = app.Services.GetRequiredService<SwitchboardNode>();
                    Console.WriteLine($"Draining {node.NodeId}…");
                    return node.DrainAsync();
                });
        });
        return command;
    }
}
