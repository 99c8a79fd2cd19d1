using System.Diagnostics;
using Switchboard.Backplane.RabbitMq;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>A broker stopped and started under running backplanes (each test owns its broker, since it stops it).</summary>
public sealed class BrokerRestartTests : IAsyncLifetime
{
    private RabbitMqBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await RabbitMqBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task BrokerRestart_CountsWhatCouldNotBeRouted_ThenRebindsEverythingAndRoutesAgain()
    {
        var prefix = $"t{Guid.NewGuid():N}";
        var log = new RecordingLogger();
        await using var a = await RabbitMqBackplane.ConnectAsync(Options(prefix), log).WithTimeout("connect a");
        await using var b = await RabbitMqBackplane.ConnectAsync(Options(prefix)).WithTimeout("connect b");
        var restored = 0;
        b.AnnounceRequested += () => Interlocked.Increment(ref restored);
        await a.JoinAsync("node-a", new RecordingInbox("node-a")).WithTimeout("join a");
        var inboxB = new RecordingInbox("node-b");
        await b.JoinAsync("node-b", inboxB).WithTimeout("join b");
        await b.SubscribeAsync("node-b", "before").AsTask().WithTimeout("subscribe before the outage");
        var observer = new RecordingObserver();
        await a.ObserveAsync(observer).WithTimeout("observe");

        await _broker.StopAsync().WithTimeout("stopping the broker", TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => !a.IsConnected && !b.IsConnected, "both backplanes to notice the outage");

        // Local work goes on: sends are counted, not thrown; control publishes say the backplane is unavailable.
        var unroutable = a.UnroutableCount;
        await a.SendAsync("node-b", TestMessages.Create("lost", "node-a")).AsTask().WithTimeout("send during the outage");
        await Eventually.TrueAsync(() => a.UnroutableCount == unroutable + 1, "the send to be counted unroutable");
        await Should.ThrowAsync<BackplaneUnavailableException>(() => a.PublishHeartbeatAsync(TestData.Heartbeat("node-a")).AsTask());
        for (var i = 0; i < 20; i++)
        {
            await a.SendAsync("node-b", TestMessages.Create($"lost-{i}", "node-a")).AsTask().WithTimeout("send during the outage");
        }
        await Eventually.TrueAsync(() => a.UnroutableCount == unroutable + 21, "every send during the outage to be counted");
        // A group joined during the outage is bound once the broker is back.
        await b.SubscribeAsync("node-b", "during").AsTask().WithTimeout("subscribe during the outage");

        await _broker.StartAgainAsync().WithTimeout("starting the broker", TimeSpan.FromSeconds(60));
        var back = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => a.IsConnected && b.IsConnected, "both backplanes to reconnect", TimeSpan.FromSeconds(10));
        await a.SendAsync("node-b", TestMessages.Create("direct", "node-a")).AsTask().WithTimeout("send");
        await a.PublishAsync("before", TestMessages.ToGroup("before", "group-before", "node-a")).AsTask().WithTimeout("publish");
        await a.PublishAsync("during", TestMessages.ToGroup("during", "group-during", "node-a")).AsTask().WithTimeout("publish");
        await a.PublishHeartbeatAsync(TestData.Heartbeat("node-a")).AsTask().WithTimeout("heartbeat");
        await inboxB.WaitForLabelAsync("group-during", TimeSpan.FromSeconds(10));
        back.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10), "cross-node routing works again within 10 s of the broker's return");

        inboxB.Labels.ShouldBe(["direct", "group-before", "group-during"]);
        await Eventually.TrueAsync(() => observer.Heartbeats.Count == 1, "the control stream to flow again");
        Volatile.Read(ref restored).ShouldBeGreaterThanOrEqualTo(1);
        // One outage, one warning each way, however many messages were lost in between; the second says how many.
        log.Count("BrokerLost").ShouldBe(1);
        log.Count("BrokerRestored").ShouldBe(1);
        log.Entries.Single(e => e.EventName == "BrokerRestored").Message.ShouldContain("21 messages could not be routed");
    }

    // Default reconnect pacing: the 10 s promise holds for the settings users get.
    private RabbitMqBackplaneOptions Options(string prefix) => new() { Uri = _broker.Url, Prefix = prefix };
}
