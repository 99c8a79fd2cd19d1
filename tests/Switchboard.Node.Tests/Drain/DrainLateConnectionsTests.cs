using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Drain;

/// <summary>A drain moves connections that became live after it began, not only those live when it started.</summary>
public sealed class DrainLateConnectionsTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n =>
    {
        // Long enough that a connection the drain forgot would only be closed after the test has given up on it.
        n.DrainTimeout = TimeSpan.FromSeconds(60);
        n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task ResumeThatCompletesDuringTheDrain_IsAskedToMove_AndItsSessionResumesElsewhere()
    {
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        var node2 = _cluster.Cluster.Node("node-2").Node;
        var waiting = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", session));
        await Eventually.TrueAsync(() => node2.Hub.Count == 1, "node-2 to hold the connection waiting for its resume");

        var drain = node2.DrainAsync();
        await waiting.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0}""");
        var welcome = await waiting.ReceiveAsync("the welcome answering resume");
        welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(welcome.GetRawText());
        var reconnect = await waiting.ReceiveAsync("the drain's reconnect frame", TimeSpan.FromSeconds(10));
        reconnect.GetProperty("type").GetString().ShouldBe("reconnect");
        await waiting.DisposeAsync();

        await using var resumed = await _cluster.ResumeAsync("bob", "node-1", session, lastSeq: 0);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(resumed.Welcome.GetRawText());
        await drain.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
