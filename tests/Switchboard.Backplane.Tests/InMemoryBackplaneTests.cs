using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests;

/// <summary>The backplane specification, run on the in-process backplane, plus what only it promises.</summary>
public class InMemoryBackplaneTests : BackplaneSpecification
{
    protected override Task<IBackplane> CreateBackplaneAsync() => Task.FromResult<IBackplane>(new InMemoryBackplane());

    [Fact]
    public async Task Join_SameNodeIdTwice_Throws()
    {
        await JoinAsync("node-a");

        await Should.ThrowAsync<InvalidOperationException>(() => Backplane.JoinAsync("node-a", new RecordingInbox("node-a")).AsTask())
            .WithTimeout("second join");
    }

    [Fact]
    public async Task ControlStream_ReachesObserversBeforePublishReturns()
    {
        // A node publishes a user's presence before it welcomes the user; in one process that must already be visible.
        var observer = await ObserveAsync();

        await Backplane.PublishPresenceAsync(TestData.Joined("node-a", 1, "bob")).AsTask().WithTimeout("presence");
        observer.Presence.Count.ShouldBe(1);
        await Backplane.PublishHeartbeatAsync(TestData.Heartbeat("node-a")).AsTask().WithTimeout("heartbeat");
        observer.Heartbeats.Count.ShouldBe(1);
        await Backplane.PublishNodeLeftAsync("node-a", 1).AsTask().WithTimeout("node left");
        observer.NodesLeft.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Messages_AreHandedOverWithoutCopying()
    {
        var inbox = await JoinAsync("node-b");
        var message = TestMessages.Create("m1", "node-a");

        await Backplane.SendAsync("node-b", message).AsTask().WithTimeout("send");
        await inbox.WaitForCountAsync(1);

        inbox.Messages.Single().ShouldBeSameAs(message);
    }

    [Fact]
    public async Task Dispose_StopsEveryNode()
    {
        var backplane = new InMemoryBackplane();
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");

        await backplane.DisposeAsync().AsTask().WithTimeout("dispose");
        await backplane.SendAsync("node-b", TestMessages.Create("m1", null)).AsTask().WithTimeout("send");

        backplane.UnroutableCount.ShouldBe(1);
        inbox.Count.ShouldBe(0);
    }
}
