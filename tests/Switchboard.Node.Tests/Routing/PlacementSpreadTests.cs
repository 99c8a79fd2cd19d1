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
                // A node writes the welcome before it counts the connection, so the last client can see its welcome first.
                await Eventually.TrueAsync(() => node.ConnectionCount == perNode[node.NodeId],
                    $"{node.NodeId} counts the {perNode[node.NodeId]} connections its clients were welcomed on", TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }
    }
}
