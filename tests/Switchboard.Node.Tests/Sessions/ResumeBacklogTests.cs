using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// A resume whose replay is longer than the send queue: the welcome and every missed message arrive, since a client
/// that has had no chance to read them yet is no slow consumer.
/// </summary>
public sealed class ResumeBacklogTests : IAsyncLifetime
{
    private const int QueueCapacity = 16;
    private const int Missed = 40;

    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n =>
    {
        n.SendQueueCapacity = QueueCapacity;
        n.ReplayBufferMessages = 100;
        n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("node-1")]
    [InlineData("node-2")]
    public async Task ReplayLongerThanTheSendQueue_IsDeliveredWhole_AfterTheWelcome(string resumeOn)
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        for (var n = 1; n <= Missed; n++)
        {
            var reply = await alice.CommandAsync($$"""{"type":"send","to":"user:bob","data":{{n}},"id":"s{{n}}"}""", $"s{n}");
            reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        }

        await using var resumed = await _cluster.ResumeAsync("bob", resumeOn, session, lastSeq: 0);

        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue(resumed.Welcome.GetRawText());
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(Missed);
        for (var n = 1; n <= Missed; n++)
        {
            var frame = await resumed.ReceiveAsync($"replayed message {n}");
            frame.GetProperty("type").GetString().ShouldBe("message", frame.GetRawText());
            frame.GetProperty("data").GetInt32().ShouldBe(n);
            frame.GetProperty("seq").GetInt64().ShouldBe(n);
        }
        // The queue's ordinary limit holds again once the replay has left: live traffic flows on.
        var live = await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1000,"id":"live"}""", "live");
        live.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var next = await resumed.ReceiveAsync("the live message after the replay");
        next.GetProperty("data").GetInt32().ShouldBe(1000);
        next.GetProperty("seq").GetInt64().ShouldBe(Missed + 1);
    }
}
