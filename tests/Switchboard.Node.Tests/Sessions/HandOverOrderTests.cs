using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// Per-sender order across a session hand-over, with the old node's forwarding made slow on purpose: a message the
/// old node forwards must not be overtaken by a newer one that reached the new node directly.
/// </summary>
public sealed class HandOverOrderTests
{
    [Fact]
    public async Task ADirectMessage_WaitsForAnOlderOneTheOldNodeForwards()
    {
        var backplane = new FaultyBackplane();
        await using var cluster = await TestCluster.StartAsync(nodes: 3, o =>
        {
            o.Backplane = backplane;
            // Long enough that only the forwarded copy, never the end of the window, can let the direct message go.
            o.ConfigureNode = n => n.ResumeForwardTime = TimeSpan.FromSeconds(30);
        });
        await using var alice = await cluster.ConnectAsync("alice-order", "node-1");
        var bob = await cluster.ConnectAsync("bob-order", "node-2");
        var session = bob.Session;
        var aliceDirectory = cluster.Cluster.Node("node-1").Node.Cluster.Directory;
        bob.Socket.Abort();
        bob.Socket.Dispose();

        // node-3 announces bob late (alice's node keeps sending to node-2 only), and node-2's forwarding is slow.
        backplane.HoldPresence = delta => delta.NodeId == "node-3";
        backplane.HoldSends = (node, message) => node == "node-3" && message.Target.Kind == TargetKind.Connection;
        await using var resumed = await cluster.ResumeAsync("bob-order", "node-3", session, lastSeq: 0);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();

        await Send(alice, "first");
        await Eventually.TrueAsync(() => backplane.HeldSendCount == 1, "node-2 to forward 'first' (held)");
        await backplane.ReleasePresenceAsync();
        await Eventually.TrueAsync(() => aliceDirectory.GetNodes("bob-order").Contains("node-3"), "alice's node to learn bob is on node-3");
        await Send(alice, "second");
        await Eventually.TrueAsync(() => backplane.HeldSendCount == 2, "node-2 to forward 'second' too (held)");
        await backplane.ReleaseSendsAsync();

        (await NextDataAsync(resumed, "the first message")).ShouldBe("first");
        (await NextDataAsync(resumed, "the second message")).ShouldBe("second");
        // Each once: the copy that came the other way is dropped.
        await Send(alice, "fence");
        (await NextDataAsync(resumed, "the fence")).ShouldBe("fence");
    }

    private static async Task Send(RawClient from, string data)
    {
        var reply = await from.CommandAsync($$"""{"type":"send","to":"user:bob-order","data":"{{data}}","id":"{{data}}"}""", data);
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    private static async Task<string?> NextDataAsync(RawClient client, string what)
    {
        var frame = await client.ReceiveAsync(what);
        frame.GetProperty("type").GetString().ShouldBe("message", frame.GetRawText());
        return frame.GetProperty("data").GetString();
    }
}
