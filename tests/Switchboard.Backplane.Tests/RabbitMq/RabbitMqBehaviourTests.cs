using System.Diagnostics.Metrics;
using System.Text;
using RabbitMQ.Client;
using Switchboard.Backplane.RabbitMq;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>What only the RabbitMQ backplane promises: it lives with bad input, one process per node id, fast failure detection, coalescing.</summary>
[Collection(BrokerCollection.Name)]
public sealed class RabbitMqBehaviourTests(BrokerFixture fixture) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_cleanup))
        {
            await item.DisposeAsync().AsTask().WithTimeout("cleanup");
        }
    }

    private async Task<RabbitMqBackplane> ConnectAsync(RabbitMqBackplaneOptions options)
    {
        var backplane = await RabbitMqBackplane.ConnectAsync(options).WithTimeout("connecting");
        _cleanup.Add(backplane);
        return backplane;
    }

    private async Task<IChannel> RawChannelAsync()
    {
        var connection = await new ConnectionFactory { Uri = fixture.Broker.Url }.CreateConnectionAsync().WithTimeout("raw connection");
        _cleanup.Add(connection);
        return await connection.CreateChannelAsync().WithTimeout("raw channel");
    }

    [Fact]
    public async Task AnObserverStartingInAnotherProcess_AsksThisProcessesNodesToAnnounce()
    {
        var options = fixture.Options();
        var nodes = await ConnectAsync(options);
        var requests = 0;
        nodes.AnnounceRequested += () => Interlocked.Increment(ref requests);
        await nodes.ObserveAsync(new RecordingObserver()).WithTimeout("the nodes' process observing");
        await Eventually.TrueAsync(() => Volatile.Read(ref requests) >= 1, "the local observer to ask for announcements");
        var before = Volatile.Read(ref requests);

        var gateway = await ConnectAsync(options);
        await gateway.ObserveAsync(new RecordingObserver()).WithTimeout("the gateway's process observing");

        await Eventually.TrueAsync(() => Volatile.Read(ref requests) > before, "the other process's request to reach the nodes' process");
    }

    [Fact]
    public async Task MalformedAndForeignMessages_AreDroppedAndTheNodeKeepsWorking()
    {
        var options = fixture.Options();
        var names = new RabbitMqNames(options.Prefix);
        var backplane = await ConnectAsync(options);
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");
        var observer = new RecordingObserver();
        await backplane.ObserveAsync(observer).WithTimeout("observe");
        var raw = await RawChannelAsync();

        var frames = new BasicProperties { AppId = RabbitMqNames.AppId, Type = RabbitMqNames.FramesType };
        await raw.BasicPublishAsync(names.NodesExchange, "node-b", false, frames, "not a batch"u8.ToArray()).AsTask().WithTimeout("garbage");
        await raw.BasicPublishAsync(names.NodesExchange, "node-b", false, frames, new byte[] { 1, 0, 4, 0 }).AsTask().WithTimeout("truncated");
        await raw.BasicPublishAsync(names.NodesExchange, "node-b", false, new BasicProperties(), "{\"hello\":1}"u8.ToArray()).AsTask().WithTimeout("foreign");
        var heartbeat = new BasicProperties { AppId = RabbitMqNames.AppId, Type = RabbitMqNames.HeartbeatType };
        await raw.BasicPublishAsync(names.ControlExchange, "", false, heartbeat, "{\"nodeId\":".ToUtf8()).AsTask().WithTimeout("bad heartbeat");
        await raw.BasicPublishAsync(names.ControlExchange, "", false, heartbeat, "{\"epoch\":1}".ToUtf8()).AsTask().WithTimeout("heartbeat without id");

        await Eventually.TrueAsync(() => backplane.RejectedCount == 5, "all five bad messages to be rejected");
        await backplane.SendAsync("node-b", TestMessages.Create("after", "node-a")).AsTask().WithTimeout("send");
        await backplane.PublishHeartbeatAsync(TestData.Heartbeat("node-a")).AsTask().WithTimeout("heartbeat");
        await inbox.WaitForLabelAsync("after");
        await Eventually.TrueAsync(() => observer.Heartbeats.Count == 1, "the good heartbeat");
        inbox.Labels.ShouldBe(["after"]);
    }

    [Fact]
    public async Task SecondProcessWithTheSameNodeId_IsRefused()
    {
        var options = fixture.Options();
        var first = await ConnectAsync(options);
        var second = await ConnectAsync(new RabbitMqBackplaneOptions { Uri = options.Uri, Prefix = options.Prefix });
        await first.JoinAsync("node-a", new RecordingInbox("node-a")).WithTimeout("first join");

        var refused = await Should.ThrowAsync<InvalidOperationException>(() => second.JoinAsync("node-a", new RecordingInbox("node-a")).AsTask()).WithTimeout("second join");
        refused.Message.ShouldContain("already held by another process");

        // The refusal cost the second backplane nothing: it still routes.
        var b = new RecordingInbox("node-b");
        await second.JoinAsync("node-b", b).WithTimeout("join node-b");
        await first.SendAsync("node-b", TestMessages.Create("m1", "node-a")).AsTask().WithTimeout("send");
        await b.WaitForLabelAsync("m1");
    }

    [Fact]
    public async Task NodeOfAnotherProcessThatDies_IsForgottenWithoutWaitingForHeartbeats()
    {
        var options = fixture.Options();
        var watcher = await ConnectAsync(options);
        var observer = new RecordingObserver();
        await watcher.ObserveAsync(observer).WithTimeout("observe");
        var doomed = await RabbitMqBackplane.ConnectAsync(new RabbitMqBackplaneOptions { Uri = options.Uri, Prefix = options.Prefix }).WithTimeout("connect");
        await doomed.JoinAsync("node-x", new RecordingInbox("node-x")).WithTimeout("join");

        // Closing the connection without leaving is what the broker sees when a process dies.
        await doomed.DisposeAsync().AsTask().WithTimeout("connection drop");

        // A bare observer evicts nobody for silence: only the broker's news of the dropped queue can tell it.
        await Eventually.TrueAsync(() => observer.NodesLeft.Any(n => n.NodeId == "node-x"), "the watcher to hear node-x is gone");
    }

    [Fact]
    public async Task Coalescing_PacksFramesForOneNodeIntoFewMessages()
    {
        var backplane = await ConnectAsync(fixture.Options());
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");

        // Queued in one go, not one awaited send at a time, so a slow machine cannot stretch them over many windows.
        var sends = Enumerable.Range(0, 1000).Select(i => backplane.SendAsync("node-b", TestMessages.Create($"m{i}", "node-a")).AsTask()).ToArray();
        await Task.WhenAll(sends).WithTimeout("sends");

        await inbox.WaitForCountAsync(1000);
        inbox.Labels.ShouldBe(Enumerable.Range(0, 1000).Select(i => $"m{i}").ToArray());
        backplane.FramesPublished.ShouldBe(1000);
        backplane.MessagesPublished.ShouldBeLessThan(100, "1000 frames queued at once must leave in a few batches");
    }

    [Fact]
    public async Task Flush_CompletesOnlyOnceWhatWasQueuedBeforeItIsWrittenToTheBroker()
    {
        // A long coalescing window: without the flush, the frames would still be waiting for it.
        var options = fixture.Options();
        options.CoalesceDelay = TimeSpan.FromMilliseconds(300);
        var backplane = await ConnectAsync(options);
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");

        for (var i = 0; i < 10; i++)
        {
            await backplane.SendAsync("node-b", TestMessages.Create($"m{i}", "node-a")).AsTask().WithTimeout("send");
        }
        await backplane.FlushAsync().AsTask().WithTimeout("flush");

        backplane.FramesPublished.ShouldBe(10, "every frame queued before the flush was written when it completed");
        await inbox.WaitForCountAsync(10);
    }

    [Fact]
    public async Task Flush_WaitsForTheBrokersConfirm_NotOnlyForTheWrite()
    {
        // The backplane reaches the broker through a relay that holds what it sends: the publish leaves the process,
        // but the broker has not seen it. A node answering a confirm=1 send at that point could die and lose it.
        await using var relay = await HoldableRelay.StartAsync(fixture.Broker.Url.Host, fixture.Broker.Url.Port);
        var (backplane, inbox) = await ConnectThroughAsync(relay);

        var label = new string('x', 4096);
        var flush = (await SendHeldAsync(relay, backplane, label, flush: true))!;
        flush.IsCompleted.ShouldBeFalse("the broker has not seen the message, so it cannot have confirmed it");

        relay.Release();
        await flush.WithTimeout("the flush, once the broker confirmed");
        await inbox.WaitForLabelAsync(label);
    }

    [Fact]
    public async Task Flush_FailsWhenTheConnectionIsLostBeforeTheBrokerConfirmed()
    {
        await using var relay = await HoldableRelay.StartAsync(fixture.Broker.Url.Host, fixture.Broker.Url.Port);
        var (backplane, inbox) = await ConnectThroughAsync(relay);

        var flush = (await SendHeldAsync(relay, backplane, new string('y', 4096), flush: true))!;
        relay.CutAll();
        relay.Release();

        // The message never reached the broker: the flush must say so, not complete as if it had.
        var failure = await Should.ThrowAsync<BackplaneUnavailableException>(flush.WithTimeout("the flush to fail"));
        failure.Message.ShouldContain("lost");
    }

    [Fact]
    public async Task Flush_FailsWhenAnEarlierMessageWasLeftUnconfirmedOnAReplacedConnection()
    {
        await using var relay = await HoldableRelay.StartAsync(fixture.Broker.Url.Host, fixture.Broker.Url.Port);
        var (backplane, inbox) = await ConnectThroughAsync(relay);

        // A message leaves on the first connection, which is cut before the broker sees it; no flush asks about it yet.
        await SendHeldAsync(relay, backplane, new string('z', 4096), flush: false);
        relay.CutAll();
        relay.Release();
        await Eventually.TrueAsync(() => !backplane.IsConnected, "the backplane to notice the cut");
        await Eventually.TrueAsync(() => backplane.IsConnected, "the backplane to reconnect");

        // The next flush covers it too, though its own message goes out on the new connection and is confirmed.
        await backplane.SendAsync("node-b", TestMessages.Create("after", "node-a")).AsTask().WithTimeout("send");
        await Should.ThrowAsync<BackplaneUnavailableException>(backplane.FlushAsync().AsTask().WithTimeout("the flush to fail"));
        await inbox.WaitForLabelAsync("after");

        // Reported once: the flush after that one has nothing lost behind it.
        await backplane.SendAsync("node-b", TestMessages.Create("later", "node-a")).AsTask().WithTimeout("send");
        await backplane.FlushAsync().AsTask().WithTimeout("the next flush");
    }

    [Fact]
    public async Task Flush_FailsAfterTheConfirmTimeout_WhenTheBrokerConfirmsNothing()
    {
        await using var relay = await HoldableRelay.StartAsync(fixture.Broker.Url.Host, fixture.Broker.Url.Port);
        var (backplane, inbox) = await ConnectThroughAsync(relay, o => o.ConfirmTimeout = TimeSpan.FromMilliseconds(300));

        // As a broker blocking its publishers: the message is held, so no confirm comes.
        relay.Hold();
        await backplane.SendAsync("node-b", TestMessages.Create("held", "node-a")).AsTask().WithTimeout("send");
        var failure = await Should.ThrowAsync<BackplaneUnavailableException>(backplane.FlushAsync().AsTask().WithTimeout("the flush to time out"));
        failure.Message.ShouldContain("Backplane:ConfirmTimeout");

        relay.Release();
        await inbox.WaitForLabelAsync("held");
    }

    [Fact]
    public void ConfirmTimeout_MustBePositive()
    {
        var options = fixture.Options();
        options.ConfirmTimeout = TimeSpan.Zero;
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(RabbitMqBackplaneOptions.ConfirmTimeout));
    }

    /// <summary>A backplane that reaches the broker through <paramref name="relay"/>, and an inbox joined as node-b.</summary>
    private async Task<(RabbitMqBackplane Backplane, RecordingInbox Inbox)> ConnectThroughAsync(HoldableRelay relay, Action<RabbitMqBackplaneOptions>? configure = null)
    {
        var options = fixture.Options();
        options.Uri = new UriBuilder(fixture.Broker.Url) { Host = "127.0.0.1", Port = relay.Port }.Uri;
        configure?.Invoke(options);
        var backplane = await ConnectAsync(options);
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");
        return (backplane, inbox);
    }

    /// <summary>
    /// Holds the relay, sends <paramref name="label"/> to node-b and, with <paramref name="flush"/>, asks for a flush at
    /// once; returns the flush (or null) once the publish has left the process, which the broker has then not seen.
    /// </summary>
    private static async Task<Task?> SendHeldAsync(HoldableRelay relay, RabbitMqBackplane backplane, string label, bool flush)
    {
        relay.Hold();
        var before = relay.BytesFromClients;
        await backplane.SendAsync("node-b", TestMessages.Create(label, "node-a")).AsTask().WithTimeout("send");
        var flushed = flush ? backplane.FlushAsync().AsTask() : null;
        await Eventually.TrueAsync(() => relay.BytesFromClients > before + label.Length, "the publish to leave the process");
        return flushed;
    }

    [Fact]
    public async Task WithoutCoalescing_EveryFrameIsItsOwnMessage()
    {
        var options = fixture.Options();
        options.Coalescing = false;
        var backplane = await ConnectAsync(options);
        var inbox = new RecordingInbox("node-b");
        await backplane.JoinAsync("node-b", inbox).WithTimeout("join");

        for (var i = 0; i < 200; i++)
        {
            await backplane.SendAsync("node-b", TestMessages.Create($"m{i}", "node-a")).AsTask().WithTimeout("send");
        }

        await inbox.WaitForCountAsync(200);
        inbox.Labels.ShouldBe(Enumerable.Range(0, 200).Select(i => $"m{i}").ToArray());
        backplane.MessagesPublished.ShouldBe(200);
    }

    [Fact]
    public async Task UnroutableMessages_AreCountedInTheBackplaneMetric()
    {
        // Its own meter factory, so backplanes of tests running in parallel cannot be mistaken for this one.
        using var meters = new ScopedMeterFactory();
        var backplane = await RabbitMqBackplane.ConnectAsync(fixture.Options(), meterFactory: meters).WithTimeout("connecting");
        _cleanup.Add(backplane);
        using var listener = new MeterListener();
        long observed = -1;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "switchboard.backplane.unroutable")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => observed = value);
        listener.Start();

        await backplane.SendAsync("nobody-here", TestMessages.Create("m1", "node-a")).AsTask().WithTimeout("send");
        await backplane.SendAsync("nobody-here", TestMessages.Create("m2", "node-a")).AsTask().WithTimeout("send");

        await Eventually.TrueAsync(() => backplane.UnroutableCount == 2, "both sends to come back unroutable");
        listener.RecordObservableInstruments();
        observed.ShouldBe(2);
    }

    [Fact]
    public async Task BrokerThatCannotBeReached_FailsStartupWithAClearError()
    {
        var options = new RabbitMqBackplaneOptions { Uri = new Uri("amqp://guest:guest@127.0.0.1:1/"), ConnectTimeout = TimeSpan.FromSeconds(3) };

        var error = await Should.ThrowAsync<BackplaneUnavailableException>(() => RabbitMqBackplane.ConnectAsync(options)).WithTimeout("connect");

        error.Message.ShouldContain("amqp://127.0.0.1:1/");
        error.Message.ShouldNotContain("guest:guest", customMessage: "credentials stay out of errors and logs");
    }
}

internal static class Utf8Extensions
{
    public static byte[] ToUtf8(this string text) => Encoding.UTF8.GetBytes(text);
}
