using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// Draining <c>switchboard node</c> processes on a real RabbitMQ broker: by SIGTERM and by <c>switchboard drain</c>. The
/// session moves between processes over the backplane's requests, and what was sent meanwhile is replayed.
/// </summary>
public sealed class DrainProcessTests : ProcessClusterTests
{
    private const string AdminKey = "cli-admin-key";
    [Fact]
    public async Task SigtermDrainsTheNode_TheClientResumesOnAnotherProcess_ThenSwitchboardDrainEmptiesTheLastOne()
    {
        var cluster = await NewClusterAsync();
        cluster.ExtraEnvironment["SWITCHBOARD__Gateway__AdminKeys__0"] = AdminKey;
        cluster.ExtraEnvironment["SWITCHBOARD__Node__SessionGraceTime"] = "00:00:10";
        cluster.ExtraEnvironment["SWITCHBOARD__Node__ResumeForwardTime"] = "00:00:01";
        cluster.ExtraEnvironment["SWITCHBOARD__Node__CloseTimeout"] = "00:00:02";
        await Task.WhenAll(cluster.StartNodeAsync("n1"), cluster.StartNodeAsync("n2"), cluster.StartGatewayAsync());
        await cluster.WaitForGatewayNodesAsync("the gateway to see both nodes", null, "n1", "n2");
        var bob = await cluster.ConnectAsync("bob", "n1");
        Own(bob);

        cluster.NodeProcess("n1").Terminate();

        var reconnect = await bob.ReceiveAsync("the reconnect frame");
        reconnect.GetProperty("type").GetString().ShouldBe("reconnect");
        // Sent while bob moves: it reaches n1, which keeps it for the session. Addressed to the connection, which names
        // its node, so it does not wait for the gateway to have learned bob's presence.
        await cluster.PublishAsync($"conn:{bob.ConnectionId}", "while-moving");
        await bob.Socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "moving", CancellationToken.None).WithTimeout("closing");
        // n1 is draining: the gateway places bob on n2 (n1 stays listed until it has left).
        await cluster.WaitForGatewayToSeeDrainingAsync("n1");
        var (url, node) = await RawClient.PlaceAsync(cluster.Gateway!, "bob", bob.Session);
        node.ShouldBe("n2");
        await using var resumed = await RawClient.OpenAsync(url);
        await resumed.SendAsync($$"""{"type":"resume","session":"{{bob.Session}}","lastSeq":0}""");
        var welcome = await resumed.ReceiveAsync("the welcome answering resume");

        welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(welcome.ToString());
        welcome.GetProperty("session").GetString().ShouldBe(bob.Session);
        var replayed = await resumed.ReceiveAsync("the replayed message");
        replayed.GetProperty("data").GetString().ShouldBe("while-moving");
        replayed.GetProperty("seq").GetInt64().ShouldBe(1);
        await cluster.NodeProcess("n1").WaitForExitAsync("n1 to exit after its drain");
        cluster.NodeProcess("n1").ExitCode.ShouldBe(0);

        var (exit, output) = await CliProcess.RunAsync(cluster.Environment, "drain", "n2", "--gateway", cluster.Gateway!.ToString(), "--admin-key", AdminKey);

        exit.ShouldBe(0, output);
        output.ShouldContain("\"draining\":true");
        (await resumed.ReceiveAsync("n2's reconnect frame")).GetProperty("type").GetString().ShouldBe("reconnect");
        await cluster.NodeProcess("n2").WaitForExitAsync("n2 to exit after its drain");
        cluster.NodeProcess("n2").ExitCode.ShouldBe(0);
    }

    [Fact]
    public async Task SwitchboardDrain_WithoutAdminKey_Fails()
    {
        var (exit, output) = await CliProcess.RunAsync("drain", "n1", "--gateway", "http://127.0.0.1:9");

        exit.ShouldBe(2);
        output.ShouldContain("admin key");
    }
}
