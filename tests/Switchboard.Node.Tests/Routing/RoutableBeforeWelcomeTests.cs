using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

/// <summary>A connection's welcome leaves only once the connection is routable, so a message sent right after it arrives.</summary>
public sealed class RoutableBeforeWelcomeTests
{
    [Fact]
    public async Task TheWelcome_WaitsForTheUsersPresence_AndAMessageSentRightAfterItArrives()
    {
        var backplane = new FaultyBackplane { BlockPresence = delta => !delta.IsSnapshot && delta.Joined.Contains("bob") };
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o => o.Backplane = backplane);
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        var hub = cluster.Cluster.Node("node-1").Node.Hub;

        var connecting = cluster.ConnectAsync("bob", "node-1");
        try
        {
            await Eventually.TrueAsync(() => backplane.BlockedPresenceCount == 1, "bob's presence publish to start (blocked)");
            var bobsConnection = hub.Connections.Single(c => c.UserId == "bob");
            connecting.IsFaulted.ShouldBeFalse(connecting.Exception?.ToString());
            // The welcome is queued, and no send task has taken it, while the presence is unpublished.
            bobsConnection.QueuedFrames.ShouldBe(1, "the welcome, waiting");
            bobsConnection.IsSending.ShouldBeFalse("bob's welcome is on its way before his presence is published");
            connecting.IsCompleted.ShouldBeFalse("bob was welcomed before his presence was published");
        }
        finally
        {
            backplane.UnblockPresence();
        }

        await using var bob = await connecting.WaitAsync(Eventually.DefaultTimeout);
        var reply = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"s1"}""", "s1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var message = await bob.ReceiveAsync("the message sent right after the welcome");
        message.GetProperty("type").GetString().ShouldBe("message", message.GetRawText());
        message.GetProperty("data").GetInt32().ShouldBe(1);
    }
}
