using System.Net.WebSockets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Drain;

/// <summary>
/// A drain's timeout runs on the node's clock, like the drain's other waits: a node on a manual clock ends its drain
/// once that clock has passed <see cref="NodeOptions.DrainTimeout"/>, not before, whatever the wall clock says.
/// </summary>
public sealed class DrainClockTests
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task DrainTimeout_OnTheNodesClock_ClosesClientsNotMovedWith1012_AndDropsKeptSessions()
    {
        await using var node = await ClockedNode.StartAsync(o =>
        {
            o.DrainTimeout = DrainTimeout;
            // Longer than the drain, so a client that does not move is still there at its timeout.
            o.CloseTimeout = TimeSpan.FromMinutes(10);
            // Longer than the test: a kept session holds the drain until its timeout.
            o.SessionGraceTime = TimeSpan.FromDays(1);
        });
        var alice = await node.ConnectAsync("alice");
        var bob = await node.ConnectAsync("bob");

        var drain = node.Node.DrainAsync();
        (await alice.ReceiveTextAsync().WithTimeout("alice's reconnect")).ShouldNotBeNull().ShouldContain("\"reconnect\"");
        (await bob.ReceiveTextAsync().WithTimeout("bob's reconnect")).ShouldNotBeNull().ShouldContain("\"reconnect\"");
        // Alice goes without a goodbye: her session is kept for her resume elsewhere. Bob does not move.
        alice.Vanish();
        await alice.Serving.WithTimeout("node-1 to end alice's connection");
        await Eventually.TrueAsync(() => node.Node.KeptSessionCount == 1, "node-1 to keep alice's session");

        // Just short of the timeout on the node's clock nothing ends, however long the wall clock waits.
        node.Clock.Advance(DrainTimeout - TimeSpan.FromSeconds(1));
        var bobsNext = bob.ReceiveTextAsync();
        await Task.WhenAny(drain, bobsNext, Task.Delay(TimeSpan.FromSeconds(2)));
        drain.IsCompleted.ShouldBeFalse("the drain ended before its timeout");
        bobsNext.IsCompleted.ShouldBeFalse("bob heard something before the drain's timeout");
        node.Node.KeptSessionCount.ShouldBe(1);

        // Past it: the node stops with what is left. Bob is closed with 1012; alice's kept session is dropped.
        node.Clock.Advance(TimeSpan.FromSeconds(2));
        (await bobsNext.WithTimeout("bob's 1012 at the drain's timeout")).ShouldBeNull();
        ((int?)bob.Socket.CloseStatus).ShouldBe(1012);
        await bob.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WithTimeout("bob's close");
        await drain.WithTimeout("the drain to end");
        node.Node.KeptSessionCount.ShouldBe(0);
        node.Node.Hub.Count.ShouldBe(0);
    }
}
