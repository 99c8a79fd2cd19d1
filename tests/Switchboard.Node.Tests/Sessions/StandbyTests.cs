using Switchboard.Security.Tickets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// What a failover proxy's node connections rely on, over real sockets: a standby ticket opens a session only beside a
/// live session of the same user; <c>ids=1</c> puts each message's id in its frame; <c>confirm=1</c> answers sends.
/// </summary>
public sealed class StandbyTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>A standby ticket, as the gateway issues for <c>/v1/connect?standby=…</c>.</summary>
    private Uri StandbyUrl(string userId, string nodeId, string standbyOf, string query = "")
    {
        var (token, _) = new TicketIssuer(TestCluster.Secret).Issue(userId, nodeId, "Standby" + Guid.NewGuid().ToString("N")[..12], TimeSpan.FromMinutes(1), standbyOf: standbyOf);
        return new Uri($"{_cluster.Cluster.Node(nodeId).WebSocketUrl}?token={Uri.EscapeDataString(token)}{query}");
    }

    [Fact]
    public async Task StandbyTicket_BesideALiveSessionOfTheSameUser_IsWelcomedAsASessionOfItsOwn()
    {
        await using var bob = await _cluster.ConnectAsync("bob", "node-1");

        await using var standby = await RawClient.OpenAsync(StandbyUrl("bob", "node-2", bob.Session));
        var welcome = await standby.ReceiveAsync("the standby's welcome");

        welcome.GetProperty("type").GetString().ShouldBe("welcome");
        welcome.GetProperty("node").GetString().ShouldBe("node-2");
        welcome.GetProperty("session").GetString().ShouldNotBe(bob.Session);
        // Both connections get bob's messages.
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":7,"id":"s1"}""", "s1")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await bob.ReceiveAsync("bob's copy")).GetProperty("data").GetInt32().ShouldBe(7);
        (await standby.ReceiveAsync("the standby's copy")).GetProperty("data").GetInt32().ShouldBe(7);
    }

    [Theory]
    [InlineData("bob", "NoSuchSession0123456789")]
    [InlineData("mallory", null)]
    public async Task StandbyTicket_ForNoLiveSessionOrAnotherUsers_IsClosedWith1008BeforeAnyWelcome(string userId, string? session)
    {
        await using var bob = await _cluster.ConnectAsync("bob", "node-1");

        await using var standby = await RawClient.OpenAsync(StandbyUrl(userId, "node-2", session ?? bob.Session));

        (await standby.ReceiveTextAsync("the refusal")).ShouldBeNull("no frame, not even a welcome, before the close");
        ((int?)standby.Socket.CloseStatus).ShouldBe(1008);
        standby.Socket.CloseStatusDescription.ShouldBe("standby refused: the session it stands by is not live");
    }

    [Fact]
    public async Task StandbyTicket_IsRefusedOnceItsSessionIsGone()
    {
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        await bob.DisposeAsync(); // a clean close (1000) ends the session

        await Eventually.TrueAsync(() => _cluster.Cluster.Node("node-1").Node.Hub.UserConnectionCount("bob") == 0, "node-1 to let bob's session go");

        await using var standby = await RawClient.OpenAsync(StandbyUrl("bob", "node-2", session));
        (await standby.ReceiveTextAsync("the refusal")).ShouldBeNull();
        ((int?)standby.Socket.CloseStatus).ShouldBe(1008);
    }

    [Fact]
    public async Task MessageIds_AreWrittenOnlyWhenAsked_AndAreTheSameInEveryCopy()
    {
        await using var plain = await _cluster.ConnectAsync("bob", "node-1");
        await using var withIds = await RawClient.OpenAsync(new Uri(_cluster.TicketUrl("bob", "node-2") + "&ids=1"));
        (await withIds.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
        await using var withIds2 = await RawClient.OpenAsync(new Uri(_cluster.TicketUrl("bob", "node-3") + "&ids=1"));
        (await withIds2.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");

        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"s1"}""", "s1")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":2,"id":"s2"}""", "s2")).GetProperty("ok").GetBoolean().ShouldBeTrue();

        (await plain.ReceiveAsync("bob's plain copy")).TryGetProperty("mid", out _).ShouldBeFalse();
        var first = await withIds.ReceiveAsync("a copy with its id");
        var other = await withIds2.ReceiveAsync("a copy with its id on another node");
        first.GetProperty("mid").GetString().ShouldBe(other.GetProperty("mid").GetString(), "one message, one id, on every node");
        first.GetProperty("seq").GetInt64().ShouldBe(1);
        var second = await withIds.ReceiveAsync("the second message");
        second.GetProperty("mid").GetString().ShouldNotBe(first.GetProperty("mid").GetString());
    }

    [Fact]
    public async Task SendsWithOneKey_AreOneMessage_DeliveredOnce_WithOneIdOnEveryNode()
    {
        await using var bob = await RawClient.OpenAsync(new Uri(_cluster.TicketUrl("bob", "node-1") + "&ids=1"));
        (await bob.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
        await using var bob3 = await RawClient.OpenAsync(new Uri(_cluster.TicketUrl("bob", "node-3") + "&ids=1"));
        (await bob3.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");
        await using var alice2 = await _cluster.ConnectAsync("alice", "node-3");
        await using var carol = await _cluster.ConnectAsync("carol", "node-3");
        await KnowsAsync(_cluster, "node-2", "bob", "node-1", "node-3");
        await KnowsAsync(_cluster, "node-3", "bob", "node-1");

        // The same send carried out twice, on two nodes (a failover proxy sending again what a lost node had not
        // answered): one message, which each of bob's connections gets once, with one id, whichever copy came first.
        // Another key, or the same key from another sender, is another message.
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"a"}""", "a")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice2.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"b"}""", "b")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":2,"key":"k2","id":"c"}""", "c")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await carol.CommandAsync("""{"type":"send","to":"user:bob","data":3,"key":"k1","id":"d"}""", "d")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        // Markers, each behind one copy of k1 on its way (a node's messages to another node keep their order): once
        // both have arrived, so would both copies have.
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":"end-2","id":"e"}""", "e")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice2.CommandAsync("""{"type":"send","to":"user:bob","data":"end-3","id":"f"}""", "f")).GetProperty("ok").GetBoolean().ShouldBeTrue();

        foreach (var (connection, node, name) in new[] { (bob, "node-1", "bob on node-1"), (bob3, "node-3", "bob on node-3, where one copy was sent") })
        {
            var mids = new Dictionary<string, List<string>>();
            var markers = 0;
            while (markers < 2)
            {
                var frame = await connection.ReceiveAsync($"{name}: the next message");
                var data = frame.GetProperty("data");
                if (data.ValueKind == System.Text.Json.JsonValueKind.String)
                {
                    markers++;
                    continue;
                }
                var label = $"{frame.GetProperty("from").GetString()}:{data.GetInt32()}";
                (mids.TryGetValue(label, out var list) ? list : mids[label] = []).Add(frame.GetProperty("mid").GetString()!);
            }
            mids["user:alice:1"].Count.ShouldBe(1, $"{name} gets the send carried out twice once");
            _cluster.Cluster.Node(node).Node.Hub.RepeatsDropped.ShouldBe(1, $"{name}: its node dropped the second copy");
            mids["user:alice:2"].Single().ShouldNotBe(mids["user:alice:1"][0]);
            mids["user:carol:3"].Single().ShouldNotBe(mids["user:alice:1"][0]);
        }
    }

    [Fact]
    public async Task WithTheRepeatWindowOff_BothCopiesArrive_WithOneId()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n => n.RepeatWindow = 0);
        await using var bob = await RawClient.OpenAsync(new Uri(cluster.TicketUrl("bob", "node-1") + "&ids=1"));
        (await bob.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        await using var alice2 = await cluster.ConnectAsync("alice", "node-2");
        await KnowsAsync(cluster, "node-2", "bob", "node-1");

        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"a"}""", "a")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice2.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"b"}""", "b")).GetProperty("ok").GetBoolean().ShouldBeTrue();

        var first = await bob.ReceiveAsync("the first copy");
        var second = await bob.ReceiveAsync("the second copy");
        second.GetProperty("mid").GetString().ShouldBe(first.GetProperty("mid").GetString());
    }

    /// <summary>Waits until <paramref name="observer"/> routes <paramref name="userId"/>'s messages to each of <paramref name="nodes"/>.</summary>
    private static Task KnowsAsync(TestCluster cluster, string observer, string userId, params string[] nodes) =>
        Eventually.TrueAsync(() => nodes.All(cluster.Cluster.Node(observer).Node.Cluster.Directory.GetNodes(userId).Contains),
            $"{observer} to learn that {userId} is on {string.Join(", ", nodes)}");

    [Fact]
    public async Task ConfirmedSends_AreAnsweredAndDelivered()
    {
        await using var bob = await _cluster.ConnectAsync("bob", "node-1");
        await using var alice = await RawClient.OpenAsync(new Uri(_cluster.TicketUrl("alice", "node-2") + "&confirm=1"));
        (await alice.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");

        for (var n = 1; n <= 20; n++)
        {
            (await alice.CommandAsync($$"""{"type":"send","to":"user:bob","data":{{n}},"id":"s{{n}}"}""", $"s{n}")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        }
        for (var n = 1; n <= 20; n++)
        {
            (await bob.ReceiveAsync($"message {n}")).GetProperty("data").GetInt32().ShouldBe(n);
        }
    }
}
