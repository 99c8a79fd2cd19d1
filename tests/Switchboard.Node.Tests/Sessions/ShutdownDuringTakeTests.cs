using Switchboard.Node.Sessions;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// A resuming connection closed by its node's stop (or a drain's timeout) while its session is still being taken from
/// another node: the take completes, the other node has let the session go, and the 1012 asked the client to resume, so
/// the stopping node keeps the session until it has resumed elsewhere.
/// </summary>
public sealed class ShutdownDuringTakeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StopDuringTheTake_Closes1012_AndTheSessionResumesElsewhere(bool drain)
    {
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind);
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o =>
        {
            o.Backplane = backplane;
            o.ConfigureNode = n =>
            {
                n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
                n.DrainTimeout = TimeSpan.FromMilliseconds(300);
            };
        });
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        var bob = await cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();

        // Bob resumes on node-2, whose take of the session from node-1 is held; node-2 stops meanwhile.
        await using var resuming = await RawClient.OpenAsync(cluster.ResumeTicketUrl("bob", "node-2", session));
        await resuming.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r1"}""");
        await Eventually.TrueAsync(() => backplane.HeldCount == 1, "node-2 to ask node-1 for the session (held)");
        await cluster.WaitForPresenceAsync("node-1", "bob", "node-2");
        var reply = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"s1"}""", "s1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var node2 = cluster.Cluster.Node("node-2").Node;
        var stopping = drain ? node2.DrainAsync() : node2.StopAsync();
        (await resuming.ReceiveTextAsync("the 1012 close")).ShouldBeNull("no frame before the close: the welcome waits for the take");
        ((int?)resuming.Socket.CloseStatus).ShouldBe(1012);

        // The take completes after the close: node-1 has handed the session over, so node-2 keeps it for the resume.
        backplane.Release();
        await Eventually.TrueAsync(() => node2.KeptSessionCount == 1, "node-2 to keep bob's session after its 1012");

        await using var resumed = await cluster.ResumeAsync("bob", "node-1", session, lastSeq: 0);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(1);
        var message = await resumed.ReceiveAsync("the message sent during the take");
        message.GetProperty("data").GetInt32().ShouldBe(1);
        message.GetProperty("seq").GetInt64().ShouldBe(1);
        await stopping.WithTimeout("node-2's stop, once the session has moved on");
        node2.KeptSessionCount.ShouldBe(0);
    }

    [Fact]
    public async Task TakeThatOutlastsTheStop_KeepsNothingOnTheStoppedNode()
    {
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind);
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o =>
        {
            o.Backplane = backplane;
            // The stop waits twice this for its clients, then goes on without the one whose take is held.
            o.ConfigureNode = n => n.CloseTimeout = TimeSpan.FromMilliseconds(200);
        });
        var bob = await cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        await using var resuming = await RawClient.OpenAsync(cluster.ResumeTicketUrl("bob", "node-2", session));
        await resuming.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r1"}""");
        await Eventually.TrueAsync(() => backplane.HeldCount == 1, "node-2 to ask node-1 for the session (held)");
        var node2 = cluster.Cluster.Node("node-2").Node;
        await node2.StopAsync().WithTimeout("node-2's stop");

        // The take completes on a node that has stopped: it keeps no session (no grace timer, no user routed to it).
        backplane.Release();
        await Eventually.TrueAsync(() => node2.Hub.Count == 0, "node-2 to let the connection go");
        node2.KeptSessionCount.ShouldBe(0);
    }
}
