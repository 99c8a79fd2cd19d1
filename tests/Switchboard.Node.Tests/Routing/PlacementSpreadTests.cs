using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

/// <summary>Placement through the gateway with real connections.</summary>
public sealed class PlacementSpreadTests
{
    [Fact]
    public async Task ThreeHundredConnectionsThroughTheGateway_SpreadWithinTenPercentOverThreeIdleNodes()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 3);
        var clients = new List<RawClient>();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                clients.Add(await RawClient.ConnectAsync(cluster.Gateway, $"spread{i}"));
            }
            var perNode = clients.GroupBy(c => c.NodeId).ToDictionary(g => g.Key, g => g.Count());
            perNode.Keys.Count.ShouldBe(3);
            foreach (var (node, count) in perNode)
            {
                count.ShouldBeInRange(90, 110, $"{node} holds {count} of 300");
            }
            foreach (var node in cluster.Cluster.Nodes)
            {
                node.ConnectionCount.ShouldBe(perNode[node.NodeId]);
            }
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }
    }
}
