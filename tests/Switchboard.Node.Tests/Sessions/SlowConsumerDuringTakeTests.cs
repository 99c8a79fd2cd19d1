using Switchboard.Node.Sessions;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// A resuming connection whose held messages overflow while its session is still being taken from another node: it is
/// closed with 3008 like any slow consumer, and, like any 3008, its session is kept for the next resume.
/// </summary>
public sealed class SlowConsumerDuringTakeTests
{
    private const int QueueCapacity = 4;

    [Fact]
    public async Task OverflowWhileTheSessionIsTaken_Closes3008_AndTheSessionStaysResumable()
    {
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind);
        await using var cluster = await SessionTakeSetUp.StartAsync(backplane, n =>
        {
            n.SendQueueCapacity = QueueCapacity;
            n.ReplayBufferMessages = 100;
            n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
        });
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        var session = await cluster.ConnectAndDropAsync("bob", "node-1");

        // Bob resumes on node-2, whose take of the session from node-1 is held; meanwhile more messages come for him
        // than his queue holds.
        await using var resuming = await cluster.ResumeWhileHeldAsync(backplane, "bob", "node-2", session);
        await cluster.WaitForPresenceAsync("node-1", "bob", "node-2");
        for (var n = 1; n <= QueueCapacity + 2; n++)
        {
            await SendAsync(alice, n);
        }
        (await resuming.ReceiveTextAsync("the 3008 close")).ShouldBeNull("no frame before the close: the welcome waits for the take");
        ((int?)resuming.Socket.CloseStatus).ShouldBe(3008);

        // The take completes after the close: node-2 holds the session now, kept for a resume like any other 3008.
        backplane.Release();
        var node2 = cluster.Cluster.Node("node-2").Node;
        await Eventually.TrueAsync(() => node2.KeptSessionCount == 1, "node-2 to keep bob's session after the 3008");
        node2.LiveConnectionCount.ShouldBe(0);
        await SendAsync(alice, QueueCapacity + 3);

        await using var resumed = await cluster.ResumeAsync("bob", "node-1", session, lastSeq: 0);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(QueueCapacity + 3);
        for (var n = 1; n <= QueueCapacity + 3; n++)
        {
            var frame = await resumed.ReceiveAsync($"message {n}");
            frame.GetProperty("type").GetString().ShouldBe("message", frame.GetRawText());
            frame.GetProperty("data").GetInt32().ShouldBe(n);
            frame.GetProperty("seq").GetInt64().ShouldBe(n);
        }
    }

    [Fact]
    public async Task HeldPastWhatASessionKeeps_TheLostAreReportedMissed()
    {
        const int replayBuffer = 4;
        const int sent = 12;
        // The take's answer is held: node-1 has handed the session over and forwards what it gets, and those forwarded
        // copies are in no replay buffer.
        await using var held = await HeldTake.SendWhileHeldAsync(replayBuffer, sent);
        var (cluster, backplane, resuming, session) = (held.Cluster, held.Backplane, held.Resuming, held.Session);
        (await resuming.ReceiveTextAsync("the 3008 close")).ShouldBeNull("no frame before the close: the welcome waits for the take");
        ((int?)resuming.Socket.CloseStatus).ShouldBe(3008);

        backplane.Release();
        var node2 = cluster.Cluster.Node("node-2").Node;
        await Eventually.TrueAsync(() => node2.KeptSessionCount == 1, "node-2 to keep bob's session after the 3008");

        // What the session kept is replayed; what it did not is reported, never skipped in silence.
        await using var resumed = await cluster.ResumeAsync("bob", "node-2", session, lastSeq: 0);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("missedFrom").GetInt64().ShouldBe(1, resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("missedTo").GetInt64().ShouldBe(sent - replayBuffer, resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(replayBuffer);
        for (var n = sent - replayBuffer + 1; n <= sent; n++)
        {
            var frame = await resumed.ReceiveAsync($"message {n}");
            frame.GetProperty("data").GetInt32().ShouldBe(n, frame.GetRawText());
            frame.GetProperty("seq").GetInt64().ShouldBe(n, frame.GetRawText());
        }
    }

    [Fact]
    public async Task HeldLongPastWhatASessionKeeps_WhatIsRememberedStaysBounded_AndTheLostAreReportedMissed()
    {
        const int replayBuffer = 4;
        const int sent = 40;
        // Ids remembered of what was let go: twice what may be held (QueueCapacity + replayBuffer).
        const int remembered = 2 * (QueueCapacity + replayBuffer);
        await using var held = await HeldTake.SendWhileHeldAsync(replayBuffer, sent);
        var (cluster, backplane, session) = (held.Cluster, held.Backplane, held.Session);
        var node2 = cluster.Cluster.Node("node-2").Node;
        var taking = node2.Hub.Connections.Single(c => c.UserId == "bob");
        taking.HeldDropsTracked.ShouldBeInRange(1, remembered);

        backplane.Release();
        await Eventually.TrueAsync(() => node2.KeptSessionCount == 1, "node-2 to keep bob's session after the 3008");
        // What was let go is reported missed: never fewer than were lost (each message let go but the last kept).
        await using var resumed = await cluster.ResumeAsync("bob", "node-2", session, lastSeq: 0);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("missedFrom").GetInt64().ShouldBe(1, resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("missedTo").GetInt64().ShouldBeGreaterThanOrEqualTo(sent - replayBuffer, resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(replayBuffer);
        for (var n = sent - replayBuffer + 1; n <= sent; n++)
        {
            (await resumed.ReceiveAsync($"message {n}")).GetProperty("data").GetInt32().ShouldBe(n);
        }
    }

    /// <summary>
    /// Two nodes whose take answers are held: bob's session, dropped on node-1, is resumed on node-2 and held there, and
    /// alice (on node-1) sends him <c>sent</c> messages. Each comes to node-2 twice (directly, and forwarded by node-1),
    /// far more than what is held is kept; node-2's inbox is in order, so once carol (on node-2) has a mark sent after
    /// them, bob's resuming connection holds all of them.
    /// </summary>
    private sealed record HeldTake(TestCluster Cluster, HeldRequestBackplane Backplane, RawClient Alice, RawClient Carol, RawClient Resuming, string Session)
        : IAsyncDisposable
    {
        public static async Task<HeldTake> SendWhileHeldAsync(int replayBuffer, int sent)
        {
            var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind, holdAnswers: true);
            var cluster = await SessionTakeSetUp.StartAsync(backplane, n =>
            {
                n.SendQueueCapacity = QueueCapacity;
                n.ReplayBufferMessages = replayBuffer;
                n.ResumeForwardTime = TimeSpan.FromSeconds(30);
            });
            var opened = new List<IAsyncDisposable> { cluster };
            try
            {
                var alice = await cluster.ConnectAsync("alice", "node-1");
                opened.Add(alice);
                var carol = await cluster.ConnectAsync("carol", "node-2");
                opened.Add(carol);
                var session = await cluster.ConnectAndDropAsync("bob", "node-1");
                var resuming = await cluster.ResumeWhileHeldAsync(backplane, "bob", "node-2", session);
                opened.Add(resuming);
                await cluster.WaitForPresenceAsync("node-1", "bob", "node-2");
                await cluster.WaitForPresenceAsync("node-1", "carol", "node-2");
                for (var n = 1; n <= sent; n++)
                {
                    await SendAsync(alice, n);
                }
                (await alice.CommandAsync("""{"type":"send","to":"user:carol","data":"mark","id":"m"}""", "m")).GetProperty("ok").GetBoolean().ShouldBeTrue();
                (await carol.ReceiveAsync("the mark")).GetProperty("data").GetString().ShouldBe("mark");
                return new HeldTake(cluster, backplane, alice, carol, resuming, session);
            }
            catch
            {
                // The test never gets them to dispose of.
                opened.Reverse();
                foreach (var each in opened)
                {
                    await each.DisposeAsync();
                }
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Resuming.DisposeAsync();
            await Carol.DisposeAsync();
            await Alice.DisposeAsync();
            await Cluster.DisposeAsync();
        }
    }

    private static async Task SendAsync(RawClient from, int n)
    {
        var reply = await from.CommandAsync($$"""{"type":"send","to":"user:bob","data":{{n}},"id":"s{{n}}"}""", $"s{n}");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
    }
}
