using System.Text.Json;
using Switchboard.Tests.Common;
using static Switchboard.Client.Tests.Functional.ClientTestHelpers;

namespace Switchboard.Client.Tests.Functional;

/// <summary>The SDK resumes its session after a drop: against a real embedded cluster, over real sockets.</summary>
public sealed class ClientResumeTests
{
    private static JsonElement Number(int n) => JsonDocument.Parse(n.ToString(System.Globalization.CultureInfo.InvariantCulture)).RootElement.Clone();

    [Fact]
    public async Task TcpDrop_WhileASenderKeepsSending_ResumesAndDeliversEveryMessageOnceInOrder()
    {
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin());
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        var events = new ClientEvents(bob);
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        var session = bob.SessionId;
        await using var messages = bob.ReadAllAsync().GetAsyncEnumerator();

        const int total = 300;
        var sending = Task.Run(async () =>
        {
            for (var n = 1; n <= total; n++)
            {
                await alice.SendAsync("user:bob", Number(n));
                if (n == 50)
                {
                    // The TCP connection drops under bob mid-stream; alice does not wait for anything.
                    bob.AbortConnection();
                }
            }
        });
        var received = new List<(int Data, long Seq)>();
        for (var n = 1; n <= total; n++)
        {
            var message = await messages.NextAsync($"message {n} (have {received.Count})");
            received.Add((message.Data.GetInt32(), message.Seq));
        }
        await sending.WithTimeout("alice to send everything");

        received.Select(r => r.Data).ShouldBe(Enumerable.Range(1, total));
        received.Select(r => r.Seq).ShouldBe(Enumerable.Range(1, total).Select(n => (long)n));
        bob.SessionId.ShouldBe(session);
        events.Lost.ShouldBeEmpty();
        events.Connected.Last().Resumed.ShouldBeTrue();
        events.Connected.Last().IsReconnect.ShouldBeTrue();
    }

    [Fact]
    public async Task SessionThatCannotBeResumed_IsReportedAsLost_AndTheClientGoesOnWithANewSession()
    {
        // Without a grace time a dropped session is gone at once.
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin(o => o.ConfigureNode = n => n.SessionGraceTime = TimeSpan.Zero));
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        var events = new ClientEvents(bob);
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        await using var messages = bob.ReadAllAsync().GetAsyncEnumerator();
        await alice.SendAsync("user:bob", Number(1));
        (await messages.NextAsync("1")).Seq.ShouldBe(1);
        var session = bob.SessionId;

        bob.AbortConnection();

        await Eventually.TrueAsync(() => !events.Lost.IsEmpty, "the loss to be reported");
        var lost = events.Lost.ShouldHaveSingleItem();
        lost.SessionLost.ShouldBeTrue();
        lost.PreviousSessionId.ShouldBe(session);
        lost.FromSeq.ShouldBe(2);
        await Eventually.TrueAsync(() => bob.State == SwitchboardClientState.Connected && bob.SessionId != session, "bob on a new session");
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        await alice.SendAsync("user:bob", Number(2));
        (await messages.NextAsync("2 on the new session")).Seq.ShouldBe(1);
    }

    [Fact]
    public async Task FullBuffer_WhileReconnecting_WithGroups_RejoinCompletes_CommandsGoThrough_AndMessagesStayInOrder()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        const int capacity = 4;
        await using var bob = await ConnectAsync(cluster.Gateway, "bob", o => o.MessageBufferCapacity = capacity);
        var events = new ClientEvents(bob);
        await bob.JoinAsync("g").WithTimeout("bob to join g");
        const int sent = 2 * capacity;
        for (var n = 1; n <= sent; n++)
        {
            await alice.SendAsync("user:bob", Number(n)).WithTimeout($"send {n}");
        }
        // The buffer is full and bob's application reads nothing: the receive loop waits, the rest stays with the node.
        await Eventually.TrueAsync(() => bob.LastSeq == capacity, $"bob's buffer to fill (last seq {bob.LastSeq})");
        var session = bob.SessionId;

        bob.AbortConnection();
        // The application waits for a command before it reads: it goes out once bob is back, after the replay of what
        // the buffer had no room for and the re-join of g, whose reply comes behind that replay.
        await bob.SendAsync("group:nobody", Number(0)).WithTimeout("a command after the reconnect, with the application not reading");

        events.Connected.ShouldContain(c => c.IsReconnect && c.Resumed);
        bob.SessionId.ShouldBe(session);
        bob.Groups.ShouldBe(["g"]);
        events.Errors.ShouldBeEmpty();
        await alice.SendAsync("group:g", Number(sent + 1)).WithTimeout("send to g");
        await using var messages = bob.ReadAllAsync().GetAsyncEnumerator();
        for (var n = 1; n <= sent + 1; n++)
        {
            var message = await messages.NextAsync($"message {n}");
            message.Data.GetInt32().ShouldBe(n);
            message.Seq.ShouldBe(n);
        }
        events.Lost.ShouldBeEmpty();
    }
}
