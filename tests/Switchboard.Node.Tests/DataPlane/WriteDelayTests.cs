using System.Net.Sockets;
using System.Text.Json;
using Switchboard.Node.DataPlane;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>
/// <c>Node:WriteDelay</c> and <c>Node:CongestionControl</c> over real sockets: messages to a client that was written to
/// a moment ago wait and then leave in one write; a reply never waits; the listener's connections use the chosen
/// congestion control; bad values stop the node with a clear message.
/// </summary>
public sealed class WriteDelayTests
{
    [Fact]
    public async Task MessagesThatComeSoonAfterAWrite_LeaveTogetherInOneWrite()
    {
        // Long enough that alice's five sends, each answered before the next, are all queued before it runs out.
        await using var cluster = await StartAsync(n => n.WriteDelay = TimeSpan.FromSeconds(5));
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        using var bob = await RawTcp.OpenWebSocketAsync(cluster.TicketUrl("bob", "node-1"));
        (await RawTcp.ReadTextFramesAsync(bob, 1))[0].ShouldContain("\"type\":\"welcome\"");

        await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"id":"1"}""", "1");
        (await RawTcp.ReadTextFramesAsync(bob, 1))[0].ShouldContain("\"data\":1");
        var segmentsBefore = await NodeSegmentsToAsync(bob);
        var sending = System.Diagnostics.Stopwatch.StartNew();
        for (var n = 2; n <= 6; n++)
        {
            await alice.CommandAsync($$"""{"type":"send","to":"user:bob","data":{{n}},"id":"{{n}}"}""", n.ToString());
        }
        sending.Stop();
        var frames = await RawTcp.ReadTextFramesAsync(bob, 5);

        frames.Select(f => JsonDocument.Parse(f).RootElement.GetProperty("data").GetInt32()).ShouldBe([2, 3, 4, 5, 6]);
        (await NodeSegmentsToAsync(bob) - segmentsBefore).ShouldBe(1, $"the five messages should have left in one write (alice's sends took {sending.ElapsedMilliseconds} ms)");
    }

    [Fact]
    public async Task AReply_GoesAtOnce_AndTakesTheHeldMessagesAlongInOrder()
    {
        // So long that a reply which waited for it would miss the read's timeout. Bob's welcome was his last write, a
        // moment ago, so alice's message to him is held.
        await using var cluster = await StartAsync(n => n.WriteDelay = TimeSpan.FromSeconds(10));
        await using var alice = await cluster.ConnectAsync("alice", "node-1");
        using var bob = await RawTcp.OpenWebSocketAsync(cluster.TicketUrl("bob", "node-1"));
        (await RawTcp.ReadTextFramesAsync(bob, 1))[0].ShouldContain("\"type\":\"welcome\"");
        var segmentsBefore = await NodeSegmentsToAsync(bob);

        await alice.CommandAsync("""{"type":"send","to":"user:bob","data":2,"id":"2"}""", "2");
        (await NodeSegmentsToAsync(bob)).ShouldBe(segmentsBefore, "alice's message should be held");
        await bob.GetStream().WriteAsync(RawTcp.MaskedTextFrame("""{"type":"ping","id":"p"}"""));
        var frames = await RawTcp.ReadTextFramesAsync(bob, 2).WaitAsync(TimeSpan.FromSeconds(5));

        JsonDocument.Parse(frames[0]).RootElement.GetProperty("data").GetInt32().ShouldBe(2);
        frames[1].ShouldContain("\"id\":\"p\"");
    }

    [Fact]
    public async Task TheChosenCongestionControl_IsWhatTheNodesConnectionsUse()
    {
        await using var cluster = await StartAsync(n => n.CongestionControl = "reno");
        using var client = await RawTcp.OpenWebSocketAsync(cluster.TicketUrl("carol", "node-1"));
        (await NodeEndAsync(client)).ShouldContain(" reno ");
    }

    [Theory]
    [InlineData("Cubic!")]
    [InlineData("abcdefghijklmnop")]
    public void ANameThatCannotBeACongestionControl_IsRefused(string name)
    {
        var options = new NodeOptions { ClusterSecret = TestCluster.Secret, DataPlanePort = 0, CongestionControl = name };

        Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("Node:CongestionControl");
    }

    [Fact]
    public void ACongestionControlTheKernelLacks_StopsTheListenerWithTheOnesItOffers()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        var error = Should.Throw<IOException>(() => CongestionControl.Set(socket, "nosuchcc"));

        error.Message.ShouldContain("'nosuchcc' is not available");
        error.Message.ShouldContain(File.ReadAllText("/proc/sys/net/ipv4/tcp_available_congestion_control").Trim());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0.5)]
    [InlineData(10_001)]
    public void AWriteDelayOutOfRange_IsRefused(double milliseconds)
    {
        var options = new NodeOptions { ClusterSecret = TestCluster.Secret, DataPlanePort = 0, WriteDelay = TimeSpan.FromMilliseconds(milliseconds) };

        Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("Node:WriteDelay");
    }

    [Fact]
    public void SettingsThatOnlyTheDataPlaneListenerHonours_StopANodeWithoutIt()
    {
        var withoutListener = new NodeOptions { ClusterSecret = TestCluster.Secret, WriteDelay = TimeSpan.FromMilliseconds(50) };
        var withoutGathering = new NodeOptions { ClusterSecret = TestCluster.Secret, DataPlanePort = 0, GatherWrites = false, WriteDelay = TimeSpan.FromMilliseconds(50) };
        var congestionWithoutListener = new NodeOptions { ClusterSecret = TestCluster.Secret, CongestionControl = "cubic" };

        Should.Throw<ArgumentException>(withoutListener.Validate).Message.ShouldContain("Node:DataPlanePort");
        Should.Throw<ArgumentException>(withoutGathering.Validate).Message.ShouldContain("Node:GatherWrites");
        Should.Throw<ArgumentException>(congestionWithoutListener.Validate).Message.ShouldContain("Node:DataPlanePort");
        new NodeOptions { ClusterSecret = TestCluster.Secret, DataPlanePort = 0, WriteDelay = TimeSpan.FromMilliseconds(50), CongestionControl = "cubic" }.Validate();
    }

    /// <summary>The node's end of <paramref name="client"/>'s connection, as the kernel reports it (<c>ss -tni</c>).</summary>
    private static async Task<string> NodeEndAsync(TcpClient client)
    {
        var local = (System.Net.IPEndPoint)client.Client.LocalEndPoint!;
        var info = new System.Diagnostics.ProcessStartInfo("ss", $"-tniH state established dst {local.Address.MapToIPv4()}:{local.Port}") { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync().WithTimeout("ss's output");
        await process.WaitForExitAsync().WithTimeout("ss to exit");
        output.ShouldNotBeEmpty("ss should list the node's end of the connection");
        return output;
    }

    /// <summary>How many segments carrying data the node has sent on <paramref name="client"/>'s connection.</summary>
    private static async Task<int> NodeSegmentsToAsync(TcpClient client)
    {
        var match = System.Text.RegularExpressions.Regex.Match(await NodeEndAsync(client), @"data_segs_out:(\d+)");
        match.Success.ShouldBeTrue("ss should report data_segs_out");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Task<TestCluster> StartAsync(Action<NodeOptions> configure) =>
        TestCluster.StartAsync(nodes: 1, o => o.ConfigureNode = n =>
        {
            n.DataPlanePort = 0;
            configure(n);
        });
}
