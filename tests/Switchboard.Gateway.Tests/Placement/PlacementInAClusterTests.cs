using Microsoft.Extensions.DependencyInjection;
using Switchboard.Gateway.Placement;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Placement;

/// <summary>The gateway's placements against real nodes: an embedded cluster on loopback, real sockets.</summary>
public sealed class PlacementInAClusterTests
{
    [Fact]
    public async Task ConnectionsThatComeAndGoBetweenHeartbeats_AreSettled_AndNeverFillTheNode()
    {
        const int capacity = 3;
        await using var cluster = await TestCluster.StartAsync(1, o => o.ConfigureNode = n =>
        {
            n.MaxConnections = capacity;
            n.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
        });
        var node = cluster.Cluster.Nodes.Single();
        var tracker = cluster.Cluster.GatewayServices.GetRequiredService<PlacementTracker>();

        // Twice the node's capacity, one after another: each placed, opened, welcomed and closed well within a heartbeat
        // interval, so no heartbeat shows it among the node's connections.
        for (var i = 0; i < 2 * capacity; i++)
        {
            await using (var client = await RawClient.ConnectAsync(cluster.Gateway, $"user-{i}"))
            {
                client.NodeId.ShouldBe(node.NodeId);
            }
            await Eventually.TrueAsync(() => node.ConnectionCount == 0, $"the node to let connection {i} go");
            await Eventually.TrueAsync(() => tracker.Pending(node.NodeId) == 0, $"a heartbeat to settle placement {i}");
        }
    }
}
