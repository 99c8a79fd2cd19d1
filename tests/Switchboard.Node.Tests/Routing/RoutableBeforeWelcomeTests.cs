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

        var connecting = cluster.ConnectAsync("bob", "node-1");
        await Eventually.TrueAsync(() => backplane.BlockedPresenceCount == 1, "bob's presence publish to start (blocked)");
        // A window for a welcome sent too early to show: nothing can be awaited for a frame that must not come.
        var first = await Task.WhenAny(connecting, Task.Delay(TimeSpan.FromMilliseconds(300)));
        backplane.UnblockPresence();
        first.ShouldNotBe(connecting, "bob was welcomed before his presence was published");

        await using var bob = await connecting.WaitAsync(TimeSpan.FromSeconds(10));
        var reply = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"s1"}""", "s1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var message = await bob.ReceiveAsync("the message sent right after the welcome");
        message.GetProperty("type").GetString().ShouldBe("message", message.GetRawText());
        message.GetProperty("data").GetInt32().ShouldBe(1);
    }
}
