using System.Text.Json;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

/// <summary>Routing across three nodes of one process, over real sockets.</summary>
public sealed class CrossNodeRoutingTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task SendToUserOnOtherNode_ArrivesOnceWithFromAndSeq()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        await using var bob = await _cluster.ConnectAsync("bob", "node-2");
        await _cluster.WaitForPresenceAsync("node-1", "bob", "node-2");

        var reply = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":{"text":"hi","n":1},"id":"s1"}""", "s1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var first = await bob.ReceiveAsync("bob's first message");
        await alice.CommandAsync("""{"type":"send","to":"user:bob","data":{"n":2},"id":"s2"}""", "s2");
        var second = await bob.ReceiveAsync("bob's second message");

        first.GetProperty("type").GetString().ShouldBe("message");
        first.GetProperty("from").GetString().ShouldBe("user:alice");
        first.GetProperty("to").GetString().ShouldBe("user:bob");
        first.GetProperty("data").GetProperty("text").GetString().ShouldBe("hi");
        first.GetProperty("seq").GetInt64().ShouldBe(1);
        // The next frame is the second message, not a duplicate of the first.
        second.GetProperty("data").GetProperty("n").GetInt32().ShouldBe(2);
        second.GetProperty("seq").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task SendToUserWithConnectionsOnTwoNodes_ReachesEachConnectionOnce()
    {
        await using var sender = await _cluster.ConnectAsync("carol", "node-1");
        await using var onNode2 = await _cluster.ConnectAsync("dave", "node-2");
        await using var onNode3 = await _cluster.ConnectAsync("dave", "node-3");
        await _cluster.WaitForPresenceAsync("node-1", "dave", "node-2", "node-3");

        await sender.CommandAsync("""{"type":"send","to":"user:dave","data":1,"id":"a"}""", "a");
        await sender.CommandAsync("""{"type":"send","to":"user:dave","data":2,"id":"b"}""", "b");

        foreach (var connection in new[] { onNode2, onNode3 })
        {
            (await connection.ReceiveAsync("first")).GetProperty("data").GetInt32().ShouldBe(1);
            (await connection.ReceiveAsync("second")).GetProperty("data").GetInt32().ShouldBe(2);
        }
    }

    [Fact]
    public async Task GroupSpreadOverThreeNodes_GetsOneCopyPerMember()
    {
        var members = new List<RawClient>();
        for (var i = 0; i < 6; i++)
        {
            var member = await _cluster.ConnectAsync($"member{i}", $"node-{i % 3 + 1}");
            (await member.CommandAsync("""{"type":"join","group":"room-spread","id":"j"}""", "j")).GetProperty("ok").GetBoolean().ShouldBeTrue();
            members.Add(member);
        }
        await using var outsider = await _cluster.ConnectAsync("outsider", "node-2");

        await outsider.CommandAsync("""{"type":"send","to":"group:room-spread","data":"one","id":"g1"}""", "g1");
        await outsider.CommandAsync("""{"type":"send","to":"group:room-spread","data":"two","id":"g2"}""", "g2");

        foreach (var member in members)
        {
            var first = await member.ReceiveAsync("first group message");
            first.GetProperty("to").GetString().ShouldBe("group:room-spread");
            first.GetProperty("from").GetString().ShouldBe("user:outsider");
            first.GetProperty("data").GetString().ShouldBe("one");
            var second = await member.ReceiveAsync("second group message");
            second.GetProperty("data").GetString().ShouldBe("two");
            second.GetProperty("seq").GetInt64().ShouldBe(2);
        }
        foreach (var member in members)
        {
            await member.DisposeAsync();
        }
    }

    [Fact]
    public async Task LeaveGroup_StopsDelivery_AndTheLastLeaverUnsubscribesItsNode()
    {
        await using var stays = await _cluster.ConnectAsync("stays", "node-1");
        await using var leaves = await _cluster.ConnectAsync("leaves", "node-2");
        await using var sender = await _cluster.ConnectAsync("sender", "node-3");
        await _cluster.WaitForPresenceAsync("node-3", "leaves", "node-2");
        await stays.CommandAsync("""{"type":"join","group":"room-leave","id":"j"}""", "j");
        await leaves.CommandAsync("""{"type":"join","group":"room-leave","id":"j"}""", "j");

        (await leaves.CommandAsync("""{"type":"leave","group":"room-leave","id":"l"}""", "l")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        await sender.CommandAsync("""{"type":"send","to":"group:room-leave","data":"after","id":"g"}""", "g");
        (await stays.ReceiveAsync("group message")).GetProperty("data").GetString().ShouldBe("after");
        // A direct marker sent after the group message arrives first at the leaver: the group message never came.
        await sender.CommandAsync("""{"type":"send","to":"user:leaves","data":"marker","id":"m"}""", "m");
        (await leaves.ReceiveAsync("marker")).GetProperty("data").GetString().ShouldBe("marker");
        _cluster.Cluster.Node("node-2").Node.Hub.GroupMemberCount("room-leave").ShouldBe(0);
    }

    [Fact]
    public async Task All_ReachesEveryConnectionOnce()
    {
        var clients = new List<RawClient>();
        for (var i = 0; i < 6; i++)
        {
            clients.Add(await _cluster.ConnectAsync($"everyone{i}", $"node-{i % 3 + 1}"));
        }

        await clients[0].CommandAsync("""{"type":"send","to":"all","data":"a1","id":"x"}""", "x", skipped: []);
        await clients[0].CommandAsync("""{"type":"send","to":"all","data":"a2","id":"y"}""", "y", skipped: []);

        foreach (var client in clients.Skip(1))
        {
            (await client.ReceiveAsync("a1")).GetProperty("data").GetString().ShouldBe("a1");
            (await client.ReceiveAsync("a2")).GetProperty("data").GetString().ShouldBe("a2");
        }
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task SendToConnectionOnOtherNode_ReachesOnlyThatConnection()
    {
        await using var target = await _cluster.ConnectAsync("erin", "node-3");
        await using var sibling = await _cluster.ConnectAsync("erin", "node-3");
        await using var sender = await _cluster.ConnectAsync("frank", "node-1");
        await _cluster.WaitForPresenceAsync("node-1", "erin", "node-3");

        await sender.CommandAsync($$"""{"type":"send","to":"conn:{{target.ConnectionId}}","data":"just you","id":"c"}""", "c");
        var message = await target.ReceiveAsync("direct message");
        message.GetProperty("to").GetString().ShouldBe("conn:" + target.ConnectionId);
        message.GetProperty("data").GetString().ShouldBe("just you");

        await sender.CommandAsync("""{"type":"send","to":"user:erin","data":"marker","id":"m"}""", "m");
        (await sibling.ReceiveAsync("marker")).GetProperty("data").GetString().ShouldBe("marker");
    }

    [Fact]
    public async Task PublishApi_ReachesAUserOnAnyNode_FromApi()
    {
        await using var grace = await _cluster.ConnectAsync("grace", "node-2");
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_cluster.Gateway, "/v1/publish"))
        {
            Content = new StringContent("""{"to":"user:grace","data":{"from":"backend"}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Api-Key", "test-key");
        var response = await http.SendAsync(request).WaitAsync(Eventually.DefaultTimeout);
        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.Accepted);

        var message = await grace.ReceiveAsync("published message");
        message.GetProperty("from").GetString().ShouldBe("api");
        message.GetProperty("data").GetProperty("from").GetString().ShouldBe("backend");
    }

    [Fact]
    public async Task PublishApi_RetriedWithAnIdempotencyKey_ReachesTheUserOnce()
    {
        await using var grace = await _cluster.ConnectAsync("grace", "node-2");
        using var http = new HttpClient();
        async Task PublishAsync(string data, string? key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_cluster.Gateway, "/v1/publish"))
            {
                // To her connection, which names its node: no wait for the gateway to learn where grace is.
                Content = new StringContent($$"""{"to":"conn:{{grace.ConnectionId}}","data":{{data}}}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("X-Api-Key", "test-key");
            if (key is not null)
            {
                request.Headers.Add("Idempotency-Key", key);
            }
            (await http.SendAsync(request).WaitAsync(Eventually.DefaultTimeout)).StatusCode.ShouldBe(System.Net.HttpStatusCode.Accepted);
        }

        // A backend that did not hear the first answer publishes again with the same key; then another message.
        await PublishAsync("1", "order-17");
        await PublishAsync("1", "order-17");
        await PublishAsync("2", null);

        (await grace.ReceiveAsync("the published message")).GetProperty("data").GetInt32().ShouldBe(1);
        (await grace.ReceiveAsync("the next one, not a second copy")).GetProperty("data").GetInt32().ShouldBe(2);
        _cluster.Cluster.Node("node-2").Node.Hub.RepeatsDropped.ShouldBe(1);
    }
}
