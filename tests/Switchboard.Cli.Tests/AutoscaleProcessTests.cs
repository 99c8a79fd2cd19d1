using System.Text.Json;
using System.Text.RegularExpressions;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// The <c>process</c> autoscaler of <c>switchboard gateway --autoscale process</c>, with the gateway and its nodes as
/// separate processes on RabbitMQ: load above the target starts a node, load gone drains one away. The cluster kills
/// the gateway's whole process tree afterwards, so the nodes it started go with it.
/// </summary>
public sealed partial class AutoscaleProcessTests : ProcessClusterTests
{
    private const string AdminKey = "autoscale-admin-key";
    [Fact]
    public async Task ProcessAutoscaler_StartsANodeWhenLoadRises_AndDrainsOneAwayWhenItFalls()
    {
        var cluster = await NewClusterAsync();
        // Nodes of 20 connections at a target of 0.5: 15 connections want ceil(15 / 10) = 2 nodes, none want 1.
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["SWITCHBOARD__Node__MaxConnections"] = "20",
            ["SWITCHBOARD__Gateway__AdminKeys__0"] = AdminKey,
            ["SWITCHBOARD__Gateway__Autoscale__TargetUtilisation"] = "0.5",
            ["SWITCHBOARD__Gateway__Autoscale__MinNodes"] = "1",
            ["SWITCHBOARD__Gateway__Autoscale__MaxNodes"] = "2",
            ["SWITCHBOARD__Gateway__Autoscale__Interval"] = "00:00:00.500",
            ["SWITCHBOARD__Gateway__Autoscale__ScaleUpCooldown"] = "00:00:10",
            ["SWITCHBOARD__Gateway__Autoscale__ScaleDownCooldown"] = "00:00:03",
        })
        {
            cluster.ExtraEnvironment[key] = value;
        }
        await cluster.StartNodeAsync("n1");
        await cluster.StartGatewayAsync("--autoscale", "process", "--verbose");
        await cluster.WaitForGatewayNodesAsync("the gateway to see n1", TimeSpan.FromSeconds(30), "n1");

        var clients = new List<RawClient>();
        for (var i = 0; i < 15; i++)
        {
            clients.Add(await cluster.ConnectAsync($"user{i}", "n1"));
        }
        await cluster.WaitForGatewayNodesAsync("the autoscaler to start a second node", TimeSpan.FromSeconds(60), "autoscaled-1", "n1");
        (await AutoscaleAsync(cluster)).ShouldContain("\"ScaleUp\"");

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
        // Both nodes are empty: the least loaded by id, autoscaled-1, is drained and its process exits.
        await cluster.WaitForGatewayNodesAsync("the autoscaler to drain a node away", TimeSpan.FromSeconds(60), "n1");
        var view = await AutoscaleAsync(cluster);
        view.ShouldContain("\"ScaleDown\"");
        view.ShouldContain("autoscaled-1");
        // The drained node's process ends on its own (the provisioner logs its exit with --verbose).
        await Eventually.TrueAsync(() => cluster.GatewayProcess!.Output.Contains("Node process autoscaled-1 exited", StringComparison.Ordinal),
            "the drained node's process to exit", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task EmptyFarm_GetsItsMinimumNode_WhoseProcessEndsWithTheGateway()
    {
        var cluster = await NewClusterAsync();
        cluster.ExtraEnvironment["SWITCHBOARD__Gateway__Autoscale__MinNodes"] = "1";
        cluster.ExtraEnvironment["SWITCHBOARD__Gateway__Autoscale__MaxNodes"] = "1";
        cluster.ExtraEnvironment["SWITCHBOARD__Gateway__Autoscale__Interval"] = "00:00:00.500";
        await cluster.StartGatewayAsync("--autoscale", "process", "--verbose");

        await cluster.WaitForGatewayNodesAsync("the autoscaler to start the minimum node", TimeSpan.FromSeconds(60), "autoscaled-1");
        var gateway = cluster.GatewayProcess!;
        var pid = int.Parse(StartedLine().Match(gateway.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Directory.Exists($"/proc/{pid}").ShouldBeTrue();

        gateway.Interrupt();
        await gateway.WaitForExitAsync("the gateway to stop on Ctrl+C");
        await Eventually.TrueAsync(() => !Directory.Exists($"/proc/{pid}"), "the node process to end with its gateway", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task AutoscaleView_WithoutAdminKey_Is401()
    {
        var cluster = await NewClusterAsync();
        cluster.ExtraEnvironment["SWITCHBOARD__Gateway__AdminKeys__0"] = AdminKey;
        var gateway = await cluster.StartGatewayAsync();

        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var response = await http.GetAsync(new Uri(gateway, "/v1/autoscale"));

        ((int)response.StatusCode).ShouldBe(401);
    }

    [GeneratedRegex(@"Started node process autoscaled-1 \(pid (\d+)\)")]
    private static partial Regex StartedLine();

    private static async Task<string> AutoscaleAsync(ProcessCluster cluster)
    {
        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cluster.Gateway!, "/v1/autoscale"));
        request.Headers.Add("X-Admin-Key", AdminKey);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        json.RootElement.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        json.RootElement.GetProperty("provisioner").GetString().ShouldBe("process");
        return body;
    }
}
