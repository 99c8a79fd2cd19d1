using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// A sender that is a recipient of its own send gets its copy before the reply, also right after its session moved to
/// another node, while the hand-over fence holds direct messages behind the ones the old node forwards.
/// </summary>
public sealed class OwnMessageAfterHandOverTests
{
    [Theory]
    [InlineData("user:bob-own")]
    [InlineData("all")]
    public async Task OwnCopy_ComesBeforeTheReply_WhileTheFenceIsUp(string target)
    {
        var backplane = new FaultyBackplane();
        // The fence outlasts the test: only a forwarded copy could let a held message go.
        await using var cluster = await SessionTakeSetUp.StartAsync(backplane, n => n.ResumeForwardTime = TimeSpan.FromSeconds(30));
        var session = await cluster.ConnectAndDropAsync("bob-own", "node-1");
        await using var resumed = await cluster.ResumeAsync("bob-own", "node-2", session, lastSeq: 0);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
        // The old node's forwarding to the new one is slow.
        backplane.HoldSends = (node, message) => node == "node-2" && message.Target.Kind == TargetKind.Connection;

        await resumed.SendAsync($$"""{"type":"send","to":"{{target}}","data":"own","id":"s1"}""");
        var first = await resumed.ReceiveAsync("the own copy");
        first.GetProperty("type").GetString().ShouldBe("message", "the own copy is queued before the reply: " + first.GetRawText());
        first.GetProperty("data").GetString().ShouldBe("own");
        first.GetProperty("seq").GetInt64().ShouldBe(1);
        var second = await resumed.ReceiveAsync("the reply");
        second.GetProperty("type").GetString().ShouldBe("reply", second.GetRawText());
        second.GetProperty("id").GetString().ShouldBe("s1");
        // The copy the old node forwards is dropped: nothing comes between the next command and its reply.
        await Eventually.TrueAsync(() => backplane.HeldSendCount >= 1, "the old node to forward its copy (held)");
        await using var marker = await cluster.ConnectAsync("marker", "node-1");
        await using var carol = await cluster.ConnectAsync("carol-own", "node-2");
        await cluster.WaitForPresenceAsync("node-1", "carol-own", "node-2");
        await backplane.ReleaseSendsAsync();
        // node-2 takes what node-1 sends it in order: once carol has the mark, the forwarded copy has reached bob's
        // connection too, and had it been queued, it would come before the reply to the ping.
        (await marker.CommandAsync("""{"type":"send","to":"user:carol-own","data":"mark","id":"m"}""", "m")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await carol.ReceiveAsync("the mark")).GetProperty("data").GetString().ShouldBe("mark");
        var between = new List<System.Text.Json.JsonElement>();
        (await resumed.CommandAsync("""{"type":"ping","id":"p"}""", "p", between)).GetProperty("ok").GetBoolean().ShouldBeTrue();
        between.ShouldBeEmpty();
    }
}
