using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Connections;

/// <summary>
/// A client that does not answer the node's close is cut off after <see cref="NodeOptions.CloseTimeout"/> on the node's
/// clock, like the stop and the drain that wait for it: on a manual clock, once it has passed the timeout, not before.
/// </summary>
public sealed class CloseClockTests
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task ClientThatDoesNotAnswerTheStopsClose_IsAbortedAtTheCloseTimeout_OnTheNodesClock()
    {
        await using var node = await ClockedNode.StartAsync(o => o.CloseTimeout = CloseTimeout);
        var bob = await node.ConnectAsync("bob");

        var stopping = node.Node.StopAsync();
        (await bob.ReceiveTextAsync().WithTimeout("bob's 1012")).ShouldBeNull();
        ((int?)bob.Socket.CloseStatus).ShouldBe(1012);

        // Bob never answers.
        await AssertEndsAtTheCloseTimeoutAsync(node, bob, "bob's connection");
        await stopping.WithTimeout("node-1's stop");
    }

    [Fact]
    public async Task RefusedClientThatDoesNotAnswerTheClose_IsLetGoAtTheCloseTimeout_OnTheNodesClock()
    {
        await using var node = await ClockedNode.StartAsync(o => o.CloseTimeout = CloseTimeout);
        var bob = await node.OpenAsync("bob", token: "not-a-ticket");

        (await bob.ReceiveTextAsync().WithTimeout("bob's 1008")).ShouldBeNull();
        ((int?)bob.Socket.CloseStatus).ShouldBe(1008);

        // Bob never answers.
        await AssertEndsAtTheCloseTimeoutAsync(node, bob, "bob's refused connection");
    }

    private static async Task AssertEndsAtTheCloseTimeoutAsync(ClockedNode node, ClockedClient client, string what)
    {
        node.Clock.Advance(CloseTimeout - TimeSpan.FromSeconds(1));
        await Task.WhenAny(client.Serving, Task.Delay(TimeSpan.FromSeconds(2)));
        client.Serving.IsCompleted.ShouldBeFalse($"{what} ended before the close timeout");

        node.Clock.Advance(TimeSpan.FromSeconds(2));
        await client.Serving.WithTimeout($"{what} to end at the close timeout on the node's clock");
    }
}
