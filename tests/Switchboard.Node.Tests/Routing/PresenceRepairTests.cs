using Switchboard.Backplane.Cluster;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

public sealed class PresenceRepairTests
{
    [Fact]
    public async Task ANodeThatLostAPeersPresence_RelearnsItFromTheNextSnapshot_AndRoutesAgain()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n =>
        {
            n.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
            n.PresenceSnapshotEvery = 2;
        });
        await using var alice = await cluster.ConnectAsync("alice-repair", "node-1");
        await using var bob = await cluster.ConnectAsync("bob-repair", "node-2");
        var directory = cluster.Cluster.Node("node-1").Node.Cluster.Directory;

        // As if node-1 had evicted node-2 during a stall: bob is gone from its directory.
        directory.RemoveNode("node-2");
        directory.GetNodes("bob-repair").ShouldBeEmpty();

        await Eventually.TrueAsync(() => directory.GetNodes("bob-repair").Contains("node-2"), "node-2's snapshot to restore bob");
        await alice.CommandAsync("""{"type":"send","to":"user:bob-repair","data":"back","id":"s"}""", "s");
        (await bob.ReceiveAsync("the message")).GetProperty("data").GetString().ShouldBe("back");
    }

    [Fact]
    public async Task AnObserverThatStartsLate_LearnsEveryNodesUsersAtOnce_NotAtTheNextPeriodicSnapshot()
    {
        // Periodic snapshots effectively off: only the announcement a new observer asks for can tell it about alice.
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n => n.PresenceSnapshotEvery = 1_000_000);
        await using var alice = await cluster.ConnectAsync("alice-late", "node-1");

        using var late = new ClusterView(new ClusterViewOptions());
        await using var observing = await cluster.Cluster.Backplane.ObserveAsync(late).AsTask().WithTimeout("observing");

        await Eventually.TrueAsync(() => late.Directory.GetNodes("alice-late").SequenceEqual(["node-1"]), "the late observer to learn alice is on node-1");
        await Eventually.TrueAsync(() => late.TryGetNode("node-2", out _), "the late observer to see node-2 too");
    }
}
