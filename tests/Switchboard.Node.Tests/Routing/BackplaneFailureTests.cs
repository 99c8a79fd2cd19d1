using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

/// <summary>A node whose backplane fails keeps serving what it can locally, and says so to the client.</summary>
public sealed class BackplaneFailureTests : IAsyncLifetime
{
    private readonly FaultyBackplane _backplane = new();
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 2, o => o.Backplane = _backplane);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _backplane.DisposeAsync();
    }

    [Fact]
    public async Task SendWhileRoutingFails_RepliesUnavailable_ButLocalRecipientsStillGetIt()
    {
        await using var local = await _cluster.ConnectAsync("local-r", "node-1");
        await using var remote = await _cluster.ConnectAsync("local-r", "node-2");
        await using var sender = await _cluster.ConnectAsync("sender-r", "node-1");
        _backplane.FailRouting = true;

        var reply = await sender.CommandAsync("""{"type":"send","to":"user:local-r","data":"near","id":"s"}""", "s");

        reply.GetProperty("ok").GetBoolean().ShouldBeFalse();
        reply.GetProperty("error").GetProperty("code").GetString().ShouldBe("unavailable");
        (await local.ReceiveAsync("the local message")).GetProperty("data").GetString().ShouldBe("near");
        _backplane.FailRouting = false;

        // A send to a user held only here needs no backplane at all.
        _backplane.FailRouting = true;
        await using var alone = await _cluster.ConnectAsync("alone-r", "node-1");
        (await sender.CommandAsync("""{"type":"send","to":"user:alone-r","data":"x","id":"t"}""", "t")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        _backplane.FailRouting = false;
    }

    [Fact]
    public async Task JoinWhileSubscribeFails_RepliesUnavailable_AndLeavesNoMembership()
    {
        await using var client = await _cluster.ConnectAsync("joiner", "node-2");
        _backplane.FailSubscribe = true;

        var reply = await client.CommandAsync("""{"type":"join","group":"unreachable","id":"j"}""", "j");

        reply.GetProperty("error").GetProperty("code").GetString().ShouldBe("unavailable");
        _cluster.Cluster.Node("node-2").Node.Hub.GroupMemberCount("unreachable").ShouldBe(0);
        _backplane.FailSubscribe = false;
        (await client.CommandAsync("""{"type":"join","group":"unreachable","id":"k"}""", "k")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task ConnectWhilePresenceFails_StillWelcomes_AndServesLocalTraffic()
    {
        _backplane.FailPresence = true;
        await using var client = await _cluster.ConnectAsync("presence-less", "node-1");
        await using var peer = await _cluster.ConnectAsync("peer-p", "node-1");
        _backplane.FailPresence = false;

        await peer.CommandAsync("""{"type":"send","to":"user:presence-less","data":"hi","id":"s"}""", "s");
        (await client.ReceiveAsync("local message")).GetProperty("data").GetString().ShouldBe("hi");
    }
}
