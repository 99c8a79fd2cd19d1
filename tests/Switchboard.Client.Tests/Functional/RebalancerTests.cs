using Microsoft.Extensions.DependencyInjection;
using Switchboard.Gateway.Placement;
using Switchboard.Gateway.Rebalance;
using Switchboard.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Client.Tests.Functional.ClientTestHelpers;

namespace Switchboard.Client.Tests.Functional;

/// <summary>The gateway's rebalancer against a real cluster: SDK clients move off loaded nodes and resume elsewhere.</summary>
public sealed class RebalancerTests
{
    [Fact]
    public async Task EmptyNodeAddedToALoadedCluster_IsFilledToWithin15PercentOfTheMean_ThenNothingMoves()
    {
        await using var cluster = await TestCluster.StartAsync(2, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.Placement = PlacementPolicies.LeastConnections;
                g.Rebalance = new RebalancerOptions
                {
                    Enabled = true,
                    Interval = TimeSpan.FromMilliseconds(200),
                    Threshold = 0.1,
                    Hysteresis = 0,
                    // Longer than a heartbeat or two, so a node's moves show before it is judged again.
                    Cooldown = TimeSpan.FromSeconds(3),
                    MinConnections = 5,
                };
            };
        });
        var clients = new List<SwitchboardClient>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                clients.Add(await ConnectAsync(cluster.Gateway, $"u{i}"));
            }
            var rebalancer = cluster.Cluster.GatewayServices.GetRequiredService<Rebalancer>();
            rebalancer.IsActive.ShouldBeTrue();
            // Two nodes about even (least-connections placement; a move while the load arrived may tip one): once the
            // gateway's view says so, nothing moves.
            var view = cluster.Cluster.GatewayServices.GetRequiredService<Switchboard.Gateway.SwitchboardGateway>().Cluster;
            await Eventually.TrueAsync(() => view.Nodes.Count == 2 && view.Nodes.Sum(n => n.Heartbeat.Connections) == 30
                && view.Nodes.All(n => n.Heartbeat.Connections is >= 14 and <= 16), "the gateway to see two even nodes");
            var requestsBefore = rebalancer.Requests;
            var roundsBefore = rebalancer.Rounds;
            await Eventually.TrueAsync(() => rebalancer.Rounds >= roundsBefore + 10, "a few rebalancer rounds");
            rebalancer.Requests.ShouldBe(requestsBefore);

            // An empty node joins the loaded cluster.
            await using var added = await RoleHost.StartNodeAsync(new RoleHostOptions("127.0.0.1", 0), cluster.Cluster.Backplane, n =>
            {
                n.NodeId = "node-3";
                n.ClusterSecret = TestCluster.Secret;
            });
            var nodes = cluster.Cluster.Nodes.Select(n => n.Node).Append(added.Services.GetRequiredService<Switchboard.Node.SwitchboardNode>()).ToList();
            bool Even() => nodes.All(n => n.LiveConnectionCount is >= 9 and <= 11) && clients.All(c => c.State == SwitchboardClientState.Connected);
            string Counts() => string.Join(", ", nodes.Select(n => $"{n.NodeId}: {n.LiveConnectionCount}"));

            await Eventually.TrueAsync(Even, "connections within ±15% of the mean (10)", TimeSpan.FromSeconds(30));

            // Then it stays still: rounds go on (past the cooldown) without another request or a move.
            var requests = rebalancer.Requests;
            requests.ShouldBeGreaterThan(requestsBefore);
            var rounds = rebalancer.Rounds;
            await Eventually.TrueAsync(() => rebalancer.Rounds >= rounds + 25, "rounds past the cooldown", TimeSpan.FromSeconds(30));
            rebalancer.Requests.ShouldBe(requests, Counts());
            Even().ShouldBeTrue(Counts());
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ClientAskedToMove_ReconnectsToAnotherNode_EvenWhenItsOldNodeLooksLeastLoaded()
    {
        await using var cluster = await TestCluster.StartAsync(2, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.Placement = PlacementPolicies.LeastConnections;
            };
        });
        await using var a = await ConnectAsync(cluster.Gateway, "a");
        await using var b = await ConnectAsync(cluster.Gateway, "b");
        await using var c = await ConnectAsync(cluster.Gateway, "c");
        var clients = new[] { a, b, c };
        // The node with one of the three clients: once that client has moved it holds none, the fewest.
        var mover = clients.GroupBy(x => x.NodeId!).Single(g => g.Count() == 1).Single();
        var moverNode = mover.NodeId!;
        var view = cluster.Cluster.GatewayServices.GetRequiredService<Switchboard.Gateway.SwitchboardGateway>().Cluster;
        // Pending placements, if any are left, only add to each node's estimate what it really holds: the mover's node stays the least.
        await Eventually.TrueAsync(() => view.Nodes.Sum(n => n.Heartbeat.Connections) == 3, "the gateway to see the three connections");
        var events = new ClientEvents(mover);

        // What a rebalance does: the node asks some of its clients to reconnect elsewhere, and stays in service.
        cluster.Cluster.Node(moverNode).Node.MoveConnections(1).ShouldBe(1);

        await Eventually.TrueAsync(() => events.Connected.Any(e => e.IsReconnect) && mover.State == SwitchboardClientState.Connected, "the moved client to reconnect");
        mover.NodeId.ShouldNotBe(moverNode);
    }
}
