using System.Text.Json;
using Switchboard.Protocol;
using Switchboard.Tests.Common;
using static Switchboard.Client.Tests.Functional.ClientTestHelpers;

namespace Switchboard.Client.Tests.Functional;

/// <summary>The SDK against a real embedded cluster: a gateway and three nodes on loopback, real sockets.</summary>
public sealed class ClientClusterTests
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public async Task ConnectAsync_ThroughTheGateway_ReceivesWelcome()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        await using var client = NewClient(cluster.Gateway, "alice");
        var events = new ClientEvents(client);

        await client.ConnectAsync().WithTimeout("connect");

        client.State.ShouldBe(SwitchboardClientState.Connected);
        client.UserId.ShouldBe("alice");
        client.ConnectionId.ShouldNotBeNullOrEmpty();
        client.SessionId.ShouldNotBeNullOrEmpty();
        cluster.Cluster.Nodes.Select(n => n.NodeId).ShouldContain(client.NodeId);
        var connected = events.Connected.ShouldHaveSingleItem();
        connected.NodeId.ShouldBe(client.NodeId);
        connected.IsReconnect.ShouldBeFalse();
        await Eventually.TrueAsync(() => cluster.Cluster.Node(client.NodeId!).ConnectionCount == 1, "the node to count the connection");
    }

    [Fact]
    public async Task SendToUserOnOtherNode_DeliversOnce_FromTheSender_WithSeqOne()
    {
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin());
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        bob.NodeId.ShouldNotBe(alice.NodeId);
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();

        await alice.SendAsync("user:bob", Json("""{"text":"hello bob"}""")).WithTimeout("send to bob");
        await alice.SendAsync("user:bob", Json("\"second\"")).WithTimeout("second send to bob");

        var first = await bobMessages.NextAsync("bob's first message");
        first.From.ShouldBe("user:alice");
        first.To.ShouldBe("user:bob");
        first.Seq.ShouldBe(1);
        first.Data.GetProperty("text").GetString().ShouldBe("hello bob");
        // The next one is the second send, not a copy of the first.
        var second = await bobMessages.NextAsync("bob's second message");
        second.Data.GetString().ShouldBe("second");
        second.Seq.ShouldBe(2);
    }

    [Fact]
    public async Task SendAsync_Typed_And_Raw_ArriveAsWritten()
    {
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin());
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();

        await alice.SendAsync("user:bob", new Wire.Chat("typed", 7), Wire.TestJsonContext.Default.Chat).WithTimeout("typed send");
        await alice.SendRawAsync("user:bob", """{"raw":[1,2,3]}"""u8.ToArray()).WithTimeout("raw send");

        (await bobMessages.NextAsync("the typed message")).Data.GetProperty("count").GetInt32().ShouldBe(7);
        (await bobMessages.NextAsync("the raw message")).Data.GetProperty("raw").GetArrayLength().ShouldBe(3);
    }

    [Fact]
    public async Task JoinAndLeaveGroup_ReceivesGroupMessagesOnlyWhileMember()
    {
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin());
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();

        await bob.JoinAsync("room1").WithTimeout("join");
        bob.Groups.ShouldBe(["room1"]);
        await alice.SendAsync("group:room1", Json("\"while member\"")).WithTimeout("group send");

        var message = await bobMessages.NextAsync("the group message");
        message.From.ShouldBe("user:alice");
        message.To.ShouldBe("group:room1");
        message.Data.GetString().ShouldBe("while member");

        await bob.LeaveAsync("room1").WithTimeout("leave");
        bob.Groups.ShouldBeEmpty();
        await alice.SendAsync("group:room1", Json("\"after leave\"")).WithTimeout("group send after leave");
        await alice.SendAsync("user:bob", Json("\"marker\"")).WithTimeout("marker send");

        // Sends from one connection arrive in order: had bob still been a member, the group message would come first.
        (await bobMessages.NextAsync("the marker")).Data.GetString().ShouldBe("marker");
    }

    [Fact]
    public async Task SendToBadTarget_ThrowsCommandExceptionWithBadTarget_AndTheConnectionStaysUsable()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");

        var error = await Should.ThrowAsync<SwitchboardCommandException>(alice.SendAsync("nobody:x", Json("1")).WithTimeout("bad send"));

        error.Code.ShouldBe(ErrorCodes.BadTarget);
        error.Command.ShouldBe("send");
        error.Reason.ShouldBe(SwitchboardErrorReason.CommandFailed);
        (await alice.PingAsync().WithTimeout("ping after the refusal")).ShouldBeGreaterThanOrEqualTo(TimeSpan.Zero);
        alice.State.ShouldBe(SwitchboardClientState.Connected);
    }

    [Fact]
    public async Task ManyConcurrentCommands_EachGetTheirOwnReply()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");

        var commands = Enumerable.Range(0, 50).Select(i => i % 5 == 0
            ? alice.SendAsync("bad", Json("1"))
            : i % 2 == 0 ? alice.JoinAsync($"g{i}") : alice.PingAsync()).ToArray();
        await Task.WhenAll(commands.Select(c => c.ContinueWith(_ => { }))).WithTimeout("every reply");

        for (var i = 0; i < commands.Length; i++)
        {
            if (i % 5 == 0)
            {
                commands[i].Exception!.InnerException.ShouldBeOfType<SwitchboardCommandException>().Code.ShouldBe(ErrorCodes.BadTarget);
            }
            else
            {
                commands[i].IsCompletedSuccessfully.ShouldBeTrue();
            }
        }
    }

    [Fact]
    public async Task NodeStops_ClientReconnectsToAnotherNode_RejoinsGroups_AndReceivesLaterGroupMessages()
    {
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin());
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        var bobEvents = new ClientEvents(bob);
        var oldNode = bob.NodeId!;
        oldNode.ShouldNotBe(alice.NodeId);
        await bob.JoinAsync("room1").WithTimeout("join");
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();

        await cluster.Cluster.StopNodeAsync(oldNode).WithTimeout("stop bob's node");

        await Eventually.TrueAsync(() => bobEvents.Connected.Any(c => c.IsReconnect), "bob to reconnect");
        var lost = bobEvents.Disconnected.ShouldHaveSingleItem();
        lost.CloseStatus.ShouldBe(CloseCodes.ServiceRestart);
        lost.WillReconnect.ShouldBeTrue();
        bob.State.ShouldBe(SwitchboardClientState.Connected);
        bob.NodeId.ShouldNotBe(oldNode);
        bob.Groups.ShouldBe(["room1"]);

        await alice.SendAsync("group:room1", Json("\"after the move\"")).WithTimeout("group send after the move");

        var message = await bobMessages.NextAsync("the group message on the new node");
        message.Data.GetString().ShouldBe("after the move");
        message.To.ShouldBe("group:room1");
    }

    [Fact]
    public async Task FullNode_ClosesWith1013_AndTheClientLandsOnAnotherNode()
    {
        // Heartbeats far apart: the gateway keeps believing node-1 has room after a direct connection fills it.
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin(o =>
        {
            o.ConfigureNode = n => n.HeartbeatInterval = TimeSpan.FromSeconds(30);
            o.ConfigureNodeById = (id, n) => n.MaxConnections = id == "node-1" ? 1 : n.MaxConnections;
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.HeartbeatInterval = TimeSpan.FromSeconds(30);
            };
        }));
        await using var filler = await cluster.ConnectAsync("filler", "node-1");
        await using var client = NewClient(cluster.Gateway, "alice");
        var events = new ClientEvents(client);

        // Round robin starts at node-1, which is full.
        await client.ConnectAsync().WithTimeout("connect");

        client.NodeId.ShouldNotBe("node-1");
        client.State.ShouldBe(SwitchboardClientState.Connected);
        var refusal = events.FailedAttempts.ShouldHaveSingleItem();
        refusal.Message.ShouldContain(CloseCodes.TryAgainLater.ToString());
        cluster.Cluster.Node("node-1").ConnectionCount.ShouldBe(1);
    }

    [Fact]
    public async Task DisposeAsync_EndsReadAllAsync_AndClosesNormally()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var client = await ConnectAsync(cluster.Gateway, "alice");
        var events = new ClientEvents(client);
        var node = cluster.Cluster.Node(client.NodeId!);
        var reader = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var _ in client.ReadAllAsync())
            {
                count++;
            }
            return count;
        });

        await client.DisposeAsync().AsTask().WithTimeout("dispose");

        (await reader.WithTimeout("the reader to end")).ShouldBe(0);
        client.State.ShouldBe(SwitchboardClientState.Closed);
        var closed = events.Disconnected.ShouldHaveSingleItem();
        closed.CloseStatus.ShouldBe(CloseCodes.Normal);
        closed.WillReconnect.ShouldBeFalse();
        await Eventually.TrueAsync(() => node.ConnectionCount == 0, "the node to drop the connection");
        (await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("ping after dispose"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
    }

    [Fact]
    public async Task DisposeAsync_DropsMessagesNotYetRead()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        var bob = await ConnectAsync(cluster.Gateway, "bob");
        await using var messages = bob.ReadAllAsync().GetAsyncEnumerator();
        for (var i = 1; i <= 3; i++)
        {
            await alice.SendAsync("user:bob", Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).WithTimeout($"send {i}");
        }
        (await messages.NextAsync("the first message")).Data.GetInt32().ShouldBe(1);
        await Eventually.TrueAsync(() => bob.LastSeq == 3, "bob to receive the other two");

        await bob.DisposeAsync().AsTask().WithTimeout("dispose");

        (await messages.MoveNextAsync().AsTask().WithTimeout("the reader to end")).ShouldBeFalse("the two unread messages are dropped");
    }

    [Fact]
    public async Task OnMessage_ReceivesMessagesInOrder()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var received = new List<long>();
        var allReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var bob = NewClient(cluster.Gateway, "bob");
        bob.OnMessage = message =>
        {
            received.Add(message.Data.GetInt64());
            if (received.Count == 20)
            {
                allReceived.TrySetResult();
            }
            return ValueTask.CompletedTask;
        };
        await bob.ConnectAsync().WithTimeout("bob to connect");
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");
        await PresenceKnownAsync(cluster, alice.NodeId!, "bob", bob.NodeId!);

        for (var i = 0; i < 20; i++)
        {
            await alice.SendAsync("user:bob", Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).WithTimeout($"send {i}");
        }

        await allReceived.Task.WithTimeout("20 messages");
        received.ShouldBe(Enumerable.Range(0, 20).Select(i => (long)i));
    }

    [Fact]
    public async Task TheLargestPublishTheGatewayAccepts_ReachesTheSdk()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        await using var messages = bob.ReadAllAsync().GetAsyncEnumerator();
        var envelope = """{"to":"user:bob","data":""}""".Length;
        var data = new string('x', 1024 * 1024 - envelope);

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cluster.Gateway, "/v1/publish"))
        {
            Content = new StringContent($$"""{"to":"user:bob","data":"{{data}}"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Api-Key", "test-key");
        (await http.SendAsync(request).WithTimeout("publish")).StatusCode.ShouldBe(System.Net.HttpStatusCode.Accepted);

        (await messages.NextAsync("the 1 MiB message")).Data.GetString()!.Length.ShouldBe(data.Length);
    }

    [Fact]
    public async Task HandlerThatSendsCommands_WithAFullBuffer_DoesNotDeadlock()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var pinged = 0;
        var allHandled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var bob = NewClient(cluster.Gateway, "bob", o => o.MessageBufferCapacity = 2);
        bob.OnMessage = async _ =>
        {
            // The reply to this ping sits behind later messages in the socket, while the buffer is full.
            try
            {
                await bob.PingAsync();
            }
            catch (Exception e)
            {
                // A deadlock shows as a ping that timed out (the 5 s command timeout), however slow the machine.
                allHandled.TrySetException(e);
                return;
            }
            if (Interlocked.Increment(ref pinged) == 10)
            {
                allHandled.TrySetResult();
            }
        };
        await bob.ConnectAsync().WithTimeout("bob to connect");
        await using var alice = await ConnectAsync(cluster.Gateway, "alice");

        for (var i = 0; i < 10; i++)
        {
            await alice.SendAsync("user:bob", Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).WithTimeout($"send {i}");
        }

        await allHandled.Task.WithTimeout("10 handled messages, each with a ping");
    }

    [Fact]
    public async Task AutoReconnectOff_NodeStops_ClientCloses_AndTheReaderSeesWhy()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var client = await ConnectAsync(cluster.Gateway, "alice", o => o.AutoReconnect = false);
        var events = new ClientEvents(client);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();
        var next = messages.MoveNextAsync().AsTask();

        await cluster.Cluster.StopNodeAsync(client.NodeId!).WithTimeout("stop the node");

        var error = await Should.ThrowAsync<SwitchboardException>(next.WithTimeout("the reader to fail"));
        error.Message.ShouldContain(CloseCodes.ServiceRestart.ToString());
        client.State.ShouldBe(SwitchboardClientState.Closed);
        var lost = events.Disconnected.ShouldHaveSingleItem();
        lost.WillReconnect.ShouldBeFalse();
        lost.CloseStatus.ShouldBe(CloseCodes.ServiceRestart);
        (await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("ping"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
        await client.DisposeAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ASendTheNodeCarriedOut_WhoseAnswerWasLost_ReachesItsRecipientOnce(bool retrySends)
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var node = cluster.Cluster.Node("node-1").WebSocketUrl;
        await using var relay = await HoldableRelay.StartAsync(node.Host, node.Port);
        await using var alice = await ConnectAsync(cluster.Gateway, "alice", o =>
        {
            o.ProxyUrl = new UriBuilder(node) { Port = relay.Port }.Uri;
            o.RetrySends = retrySends;
        });
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();

        // The node carries the send out, but its answer never reaches alice: her connection is cut first.
        relay.HoldServers();
        var send = alice.SendAsync("user:bob", Json("1"));
        (await bobMessages.NextAsync("bob's message")).Data.GetInt32().ShouldBe(1);
        send.IsCompleted.ShouldBeFalse("the answer is held");
        relay.CutAll();
        relay.Release();

        if (retrySends)
        {
            // Sent again on the next connection, with its key: answered, and not delivered a second time.
            await send.WithTimeout("the send, sent again after the reconnect");
        }
        else
        {
            (await Should.ThrowAsync<SwitchboardException>(send.WithTimeout("the send in flight"))).Reason.ShouldBe(SwitchboardErrorReason.ConnectionLost);
        }
        await alice.SendAsync("user:bob", Json("2")).WithTimeout("the next send");
        (await bobMessages.NextAsync("bob's next message")).Data.GetInt32().ShouldBe(2, "the first send once, then the second");
    }

    [Fact]
    public async Task ASendCarriedOutTwice_ThroughNodesThatPassOnBothCopies_ReachesTheApplicationOnce()
    {
        // The case the nodes' window cannot see: here it is off, as for a recipient whose session was lost between copies.
        await using var cluster = await TestCluster.StartAsync(3, o => o.ConfigureNode = n => n.RepeatWindow = 0);
        await using var bob = await ConnectAsync(cluster.Gateway, "bob");
        await using var bobMessages = bob.ReadAllAsync().GetAsyncEnumerator();
        var senders = new List<RawClient>();
        try
        {
            foreach (var node in cluster.Cluster.Nodes.Select(n => n.NodeId).Where(n => n != bob.NodeId))
            {
                senders.Add(await cluster.ConnectAsync("alice", node));
                await PresenceKnownAsync(cluster, node, "bob", bob.NodeId!);
            }

            foreach (var sender in senders)
            {
                (await sender.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"a"}""", "a")).GetProperty("ok").GetBoolean().ShouldBeTrue();
            }
            foreach (var sender in senders)
            {
                // Behind each copy on its way: once both have arrived, so has every copy.
                (await sender.CommandAsync("""{"type":"send","to":"user:bob","data":"end","id":"b"}""", "b")).GetProperty("ok").GetBoolean().ShouldBeTrue();
            }

            var received = new List<string>();
            while (received.Count(r => r == "\"end\"") < 2)
            {
                received.Add((await bobMessages.NextAsync("bob's next message")).Data.GetRawText());
            }
            received.Count(r => r == "1").ShouldBe(1, "the two copies share one mid, and the client drops the second");
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }
    }
}
