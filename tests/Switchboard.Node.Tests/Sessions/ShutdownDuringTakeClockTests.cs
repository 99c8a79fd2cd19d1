using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Node.Sessions;
using Switchboard.Security.Tickets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// The stop's wait for a session taken during it to resume elsewhere runs on the node's clock, like its other waits:
/// a node on a manual clock stops once that clock has passed twice the close timeout, whatever the wall clock says.
/// </summary>
public sealed class ShutdownDuringTakeClockTests
{
    [Fact]
    public async Task WaitForATakenSessionToResume_EndsOnTheNodesClock()
    {
        var backplane = new HeldRequestBackplane(SessionTakeMessages.Kind);
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o => o.Backplane = backplane);
        var session = await cluster.ConnectAndDropAsync("bob", "node-1");

        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        using var meters = new ScopedMeterFactory();
        // Far longer than the test may take on the wall clock; the session's grace time longer still.
        var options = new NodeOptions
        {
            NodeId = "node-2",
            ClusterSecret = TestCluster.Secret,
            CloseTimeout = TimeSpan.FromMinutes(1),
            SessionGraceTime = TimeSpan.FromDays(1),
            // Nothing to dispose before the stop closes its clients: StopAsync has done so when it returns.
            IdleTrim = false,
        };
        await using var node2 = new SwitchboardNode(options, backplane, NullLogger<SwitchboardNode>.Instance, new NodeMetrics(meters), clock);
        await node2.StartAsync("ws://127.0.0.1:1/v1/ws").WithTimeout("node-2's start");
        await using var pair = await SocketPair.OpenAsync();
        using var server = WebSocket.CreateFromStream(new NetworkStream(pair.Server), new WebSocketCreationOptions { IsServer = true });
        using var client = WebSocket.CreateFromStream(new NetworkStream(pair.Client), new WebSocketCreationOptions());
        var (token, _) = new TicketIssuer(TestCluster.Secret).Issue("bob", "node-2", session, TimeSpan.FromMinutes(1), resume: true);
        var serving = node2.ServeAsync(server, await node2.ValidateTicketAsync(token));
        await client.SendAsync(Encoding.UTF8.GetBytes($$"""{"type":"resume","session":"{{session}}","lastSeq":0}"""), WebSocketMessageType.Text, true, CancellationToken.None)
            .WithTimeout("the resume");
        await Eventually.TrueAsync(() => backplane.HeldCount == 1, "node-2 to ask node-1 for the session (held)");

        // Node-2 stops during the take; the take then completes, and node-2 keeps the session for a resume that never comes.
        var stopping = node2.StopAsync();
        backplane.Release();
        var buffer = new byte[4096];
        var frames = new List<string>();
        WebSocketReceiveResult received;
        while ((received = await client.ReceiveAsync(buffer, CancellationToken.None).WithTimeout("bob's frames up to the 1012")).MessageType != WebSocketMessageType.Close)
        {
            frames.Add(Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        frames.FirstOrDefault().ShouldNotBeNull().ShouldContain("\"resumed\":true");
        ((int?)client.CloseStatus).ShouldBe(1012);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WithTimeout("bob's close");
        await serving.WithTimeout("node-2 to end bob's connection");
        await Eventually.TrueAsync(() => node2.KeptSessionCount == 1, "node-2 to keep bob's session after its 1012");

        // Node-2's clock moves on (never as far as the session's grace time), the wall clock hardly: the stop goes on
        // without the resume once its own clock has passed twice the close timeout.
        await Eventually.TrueAsync(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            return stopping.IsCompleted;
        }, "node-2's stop, on its own clock");
        await stopping.WithTimeout("node-2's stop, on its own clock");
        node2.KeptSessionCount.ShouldBe(0);
    }
}
