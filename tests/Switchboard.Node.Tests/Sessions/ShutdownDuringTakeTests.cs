using Switchboard.Node.Sessions;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// A resuming connection whose node stops (or a drain times out) while its session is still being taken from another
/// node: its 1012 waits for the take, the other node has let the session go, so the stopping node keeps the session
/// until it has resumed elsewhere, and the client hears the 1012 only once that resume can find it.
/// </summary>
public sealed class ShutdownDuringTakeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StopDuringTheTake_Closes1012OnceTheTakeEnded_AndAnImmediateResumeElsewhereFindsTheSession(bool drain)
    {
        // The take is carried out at once (node-1 lets the session go) and its answer is what is slow: meanwhile no node
        // would find the session for a resume.
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind, holdAnswers: true);
        await using var cluster = await SessionTakeSetUp.StartAsync(backplane, n =>
        {
            n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
            n.DrainTimeout = TimeSpan.FromMilliseconds(300);
        });
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        var session = await cluster.ConnectAndDropAsync("bob", "node-1");

        // Bob resumes on node-2, whose take of the session from node-1 is slow; node-2 stops meanwhile.
        await using var resuming = await cluster.ResumeWhileHeldAsync(backplane, "bob", "node-2", session);
        await cluster.WaitForPresenceAsync("node-1", "bob", "node-2");
        var reply = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"s1"}""", "s1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var node2 = cluster.Cluster.Node("node-2").Node;
        var stopping = drain ? node2.DrainAsync() : node2.StopAsync();
        // The take's answer comes well after the stop began: a 1012 sent at the stop's start reaches the client first.
        var slowTake = Task.Delay(TimeSpan.FromSeconds(2)).ContinueWith(_ => backplane.Release(), TaskScheduler.Default);

        var frames = new List<string>();
        while (await resuming.ReceiveTextAsync("bob's frames up to the 1012", TimeSpan.FromSeconds(15)) is { } frame)
        {
            frames.Add(frame);
        }
        ((int?)resuming.Socket.CloseStatus).ShouldBe(1012);

        // The client resumes elsewhere at once, as the 1012 asks: node-2 holds the session by now.
        await using var resumed = await cluster.ResumeAsync("bob", "node-1", session, lastSeq: 0);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(1);
        var message = await resumed.ReceiveAsync("the message sent during the take");
        message.GetProperty("data").GetInt32().ShouldBe(1);
        message.GetProperty("seq").GetInt64().ShouldBe(1);
        frames.Count.ShouldBeGreaterThan(0, "node-2 welcomed bob's resume before its 1012");
        frames[0].ShouldContain("\"resumed\":true");
        await slowTake.WithTimeout("the slow take's release");
        await stopping.WithTimeout("node-2's stop, once the session has moved on");
        node2.KeptSessionCount.ShouldBe(0);
    }

    [Fact]
    public async Task TakeThatOutlastsTheStop_KeepsNothingOnTheStoppedNode()
    {
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind);
        // The stop waits twice the close timeout for its clients, then goes on without the one whose take is held.
        await using var cluster = await SessionTakeSetUp.StartAsync(backplane, n => n.CloseTimeout = TimeSpan.FromMilliseconds(200));
        var session = await cluster.ConnectAndDropAsync("bob", "node-1");
        await using var resuming = await cluster.ResumeWhileHeldAsync(backplane, "bob", "node-2", session);
        var node2 = cluster.Cluster.Node("node-2").Node;
        await node2.StopAsync().WithTimeout("node-2's stop");

        // The take completes on a node that has stopped: it keeps no session (no grace timer, no user routed to it).
        backplane.Release();
        await Eventually.TrueAsync(() => node2.Hub.Count == 0, "node-2 to let the connection go");
        node2.KeptSessionCount.ShouldBe(0);
    }
}
