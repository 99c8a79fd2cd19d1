using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Gateway;
using Switchboard.Hosting;

namespace Switchboard.Commands;

/// <summary><c>switchboard up</c>: a gateway and N nodes in this process on loopback, with the in-process backplane or, with <c>--backplane</c>, over RabbitMQ.</summary>
internal static class UpCommand
{
    public static Command Create(Option<string?> configOption)
    {
        var nodes = new Option<int>("--nodes") { Description = "Number of nodes", DefaultValueFactory = _ => 3 };
        var port = new Option<int>("--port") { Description = "Gateway port; nodes listen on the ports after it", DefaultValueFactory = _ => 7000 };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var policy = new Option<string?>("--policy") { Description = "Placement policy: least-loaded, least-connections or round-robin" };
        var maxConnections = new Option<int?>("--max-connections") { Description = "Connection cap of each node" };
        var verbose = new Option<bool>("--verbose") { Description = "Log lifecycle events, not only warnings" };
        var backplaneOption = BackplaneSetup.CreateOption();
        var command = new Command("up", "Run a gateway and nodes in this process (the embedded cluster)")
        {
            nodes, port, host, policy, maxConnections, verbose, backplaneOption,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            IConfiguration configuration;
            try
            {
                configuration = CliConfiguration.Load(parse.GetValue(configOption));
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            var (settings, problem) = GatewaySettings.Resolve(configuration, devModeDefault: true, apiKeyFlags: []);
            if (settings is null)
            {
                Console.Error.WriteLine($"error: {problem}");
                return 2;
            }
            Uri? brokerUrl;
            try
            {
                brokerUrl = BackplaneSetup.BrokerUrl(parse, backplaneOption, configuration);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            var logging = RoleHost.ConsoleLogging(parse.GetValue(verbose));
            using var loggers = LoggerFactory.Create(logging);
            IBackplane backplane;
            try
            {
                backplane = await BackplaneSetup.ConnectAsync(brokerUrl, configuration, loggers, "switchboard up", cancellationToken);
            }
            catch (Exception e) when (e is BackplaneUnavailableException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            await using var backplaneLifetime = backplane;
            var options = new EmbeddedClusterOptions
            {
                Nodes = parse.GetValue(nodes),
                GatewayPort = parse.GetValue(port),
                Host = parse.GetValue(host)!,
                ClusterSecret = configuration["Cluster:Secret"],
                Backplane = backplane,
                ConfigureNode = o =>
                {
                    configuration.GetSection("Node").Bind(o);
                    // Every embedded node has its own address; a shared Node:PublicUrl would send all clients to one,
                    // and a shared data-plane port could be bound by one node only.
                    o.PublicUrl = null;
                    o.DataPlanePort = null;
                    if (parse.GetValue(maxConnections) is { } cap)
                    {
                        o.MaxConnections = cap;
                    }
                },
                ConfigureGateway = o =>
                {
                    configuration.GetSection(GatewayOptions.SectionName).Bind(o);
                    settings.ApplyTo(o);
                    if (parse.GetValue(policy) is { } name)
                    {
                        o.Placement = name;
                    }
                },
                ConfigureLogging = logging,
            };
            EmbeddedCluster cluster;
            try
            {
                cluster = await EmbeddedCluster.StartAsync(options, cancellationToken);
            }
            catch (Exception e) when (e is ArgumentException or IOException or Microsoft.Extensions.Options.OptionsValidationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            await using (cluster)
            {
                PrintTour(cluster, settings, BackplaneSetup.Describe(brokerUrl));
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Console.WriteLine("Stopping: closing client connections with 1012…");
                }
            }
            Console.WriteLine("Stopped.");
            return 0;
        });
        return command;
    }

    private static void PrintTour(EmbeddedCluster cluster, GatewaySettings settings, string backplane)
    {
        var gateway = cluster.GatewayUrl.ToString().TrimEnd('/');
        var apiKey = settings.ApiKeys.FirstOrDefault() ?? "<configure Gateway:ApiKeys>";
        Console.WriteLine($"Switchboard is up: a gateway and {cluster.Nodes.Count} nodes in this process, {backplane}.");
        Console.WriteLine();
        Console.WriteLine($"  gateway  {gateway}   POST /v1/connect · POST /v1/publish · GET /v1/nodes");
        foreach (var node in cluster.Nodes)
        {
            Console.WriteLine($"  {node.NodeId,-8} {node.WebSocketUrl}   health {node.HttpUrl.ToString().TrimEnd('/')}/readyz");
        }
        Console.WriteLine();
        settings.PrintNotices();
        Console.WriteLine("Try it (in another terminal; `switchboard` is `dotnet run --project src/Switchboard --` from a checkout):");
        Console.WriteLine($"  curl -s -X POST {gateway}/v1/connect -H 'Content-Type: application/json' -d '{{\"userId\":\"alice\"}}'");
        Console.WriteLine($"  switchboard ws --gateway {gateway} --user bob        # then type: {{\"type\":\"join\",\"group\":\"room1\",\"id\":\"1\"}}");
        Console.WriteLine($"  curl -s -X POST {gateway}/v1/publish -H 'X-Api-Key: {apiKey}' -H 'Content-Type: application/json' -d '{{\"to\":\"group:room1\",\"data\":\"hello\"}}'");
        Console.WriteLine();
        Console.WriteLine("Press Ctrl+C to stop.");
    }
}
