using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Switchboard.Bench.Workers;
using Switchboard.Gateway;
using Switchboard.Gateway.Autoscale;
using Switchboard.Hosting;

namespace Switchboard.Commands;

/// <summary><c>switchboard gateway</c>: one gateway in this process, placing clients on the nodes it hears on the RabbitMQ backplane.</summary>
internal static class GatewayCommand
{
    public static Command Create(Option<string?> configOption)
    {
        var backplane = BackplaneSetup.CreateOption();
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => 7000 };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var secret = new Option<string?>("--secret") { Description = "Cluster secret shared with the nodes (default: Cluster:Secret)" };
        var policy = new Option<string?>("--policy") { Description = "Placement policy: least-loaded, least-connections or round-robin" };
        var apiKey = new Option<string[]>("--api-key") { Description = "Publish API key (repeatable; default: Gateway:ApiKeys)", AllowMultipleArgumentsPerToken = false };
        var dev = new Option<bool>("--dev") { Description = "Dev mode: accept unsigned {\"userId\":…} connect bodies (never on a network)" };
        var verbose = new Option<bool>("--verbose") { Description = "Log lifecycle events, not only warnings" };
        var autoscale = new Option<string?>("--autoscale")
        {
            Description = "Turn the autoscaler on with this provisioner: process, command or webhook (default: Gateway:Autoscale)",
        };
        var command = new Command("gateway", "Run one gateway (placement, tickets, publish API) over the backplane")
        {
            backplane, port, host, secret, policy, apiKey, dev, verbose, autoscale,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!RoleCommand.TryLoad(parse, configOption, backplane, out var configuration, out var brokerUrl))
            {
                return 2;
            }
            if (brokerUrl is null)
            {
                Console.Error.WriteLine("error: a gateway in its own process sees nodes only over RabbitMQ: pass --backplane amqp://… (or run `switchboard up`).");
                return 2;
            }
            var clusterSecret = RoleCommand.ClusterSecret(parse.GetValue(secret), configuration);
            if (clusterSecret is null)
            {
                Console.Error.WriteLine("error: a gateway needs the cluster secret its nodes check tickets with: --secret or Cluster:Secret.");
                return 2;
            }
            var (settings, problem) = GatewaySettings.Resolve(configuration, devModeDefault: false, parse.GetValue(apiKey) ?? [], devModeFlag: parse.GetValue(dev));
            if (settings is null)
            {
                Console.Error.WriteLine($"error: {problem}");
                return 2;
            }
            var listenPort = parse.GetValue(port);
            var listenHost = parse.GetValue(host)!;
            return await RoleCommand.RunAsync(brokerUrl, configuration, parse.GetValue(verbose), "switchboard gateway",
                (bus, logging) => RoleHost.StartGatewayAsync(new RoleHostOptions(listenHost, listenPort, logging), bus, o =>
                {
                    configuration.GetSection(GatewayOptions.SectionName).Bind(o);
                    settings.ApplyTo(o);
                    o.ClusterSecret = clusterSecret;
                    o.Placement = parse.GetValue(policy) ?? o.Placement;
                    ConfigureAutoscale(o.Autoscale, parse.GetValue(autoscale), brokerUrl);
                }, cancellationToken),
                (app, described) =>
                {
                    Console.WriteLine($"gateway listening on {app.Urls.First()} ({described}); POST /v1/connect · POST /v1/publish · GET /v1/nodes. Ctrl+C stops it.");
                    settings.PrintNotices();
                },
                cancellationToken);
        });
        return command;
    }

    /// <summary>
    /// The <c>process</c> provisioner starts this same program as <c>switchboard node</c> on the gateway's broker
    /// (the cluster secret defaults to the gateway's own); configuration may override each.
    /// </summary>
    private static void ConfigureAutoscale(AutoscaleOptions options, string? provisionerFlag, Uri brokerUrl)
    {
        if (provisionerFlag is not null)
        {
            options.Enabled = true;
            options.Provisioner = provisionerFlag;
        }
        if (options.Provisioner != Provisioners.Process)
        {
            return;
        }
        if (string.IsNullOrEmpty(options.Process.Executable))
        {
            var self = SelfProcess.StartInfo();
            options.Process.Executable = self.FileName;
            options.Process.Arguments = [.. self.ArgumentList];
        }
        options.Process.BackplaneUrl ??= brokerUrl.ToString();
    }
}
