using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests;

/// <summary>
/// The behaviour every <see cref="IBackplane"/> promises, written once. Each implementation runs it by
/// deriving a test class that says how to create a fresh backplane.
/// </summary>
/// <remarks>
/// Nothing here assumes in-process delivery: every arrival is awaited with a timeout. To show that something
/// did NOT arrive, a later marker is sent on the same path and awaited first; the backplane keeps per-path
/// order, so anything sent before the marker has arrived by then.
/// </remarks>
public abstract class BackplaneSpecification : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _registrations = [];
    private int _markers;

    /// <summary>The backplane under test, fresh for each test.</summary>
    protected IBackplane Backplane { get; private set; } = null!;

    /// <summary>Creates an empty backplane of the implementation under test.</summary>
    protected abstract Task<IBackplane> CreateBackplaneAsync();

    public async Task InitializeAsync() => Backplane = await CreateBackplaneAsync().WithTimeout("creating the backplane");

    public async Task DisposeAsync()
    {
        foreach (var registration in Enumerable.Reverse(_registrations))
        {
            await registration.DisposeAsync().AsTask().WithTimeout("leaving the backplane");
        }
        await Backplane.DisposeAsync().AsTask().WithTimeout("disposing the backplane");
    }

    /// <summary>Joins a node with a recording inbox; the registration is disposed after the test.</summary>
    private protected async Task<(RecordingInbox Inbox, IAsyncDisposable Registration)> JoinWithRegistrationAsync(string nodeId)
    {
        var inbox = new RecordingInbox(nodeId);
        var registration = await Backplane.JoinAsync(nodeId, inbox).WithTimeout($"{nodeId} joining");
        _registrations.Add(registration);
        return (inbox, registration);
    }

    private protected async Task<RecordingInbox> JoinAsync(string nodeId) => (await JoinWithRegistrationAsync(nodeId)).Inbox;

    private protected async Task<RecordingObserver> ObserveAsync()
    {
        var observer = new RecordingObserver();
        _registrations.Add(await Backplane.ObserveAsync(observer).WithTimeout("observing"));
        return observer;
    }

    private static Task Done(ValueTask operation, string what) => operation.AsTask().WithTimeout(what);

    private string NextMarker() => $"marker-{Interlocked.Increment(ref _markers)}";

    /// <summary>Sends a marker directly to each inbox's node and waits until each has it.</summary>
    private async Task FenceDirectAsync(params RecordingInbox[] inboxes)
    {
        var marker = NextMarker();
        foreach (var inbox in inboxes)
        {
            await Done(Backplane.SendAsync(inbox.NodeId, TestMessages.Create(marker, originNodeId: null)), "sending a marker");
        }
        foreach (var inbox in inboxes)
        {
            await inbox.WaitForLabelAsync(marker);
        }
    }

    /// <summary>Publishes a marker to <paramref name="group"/> from outside the cluster and waits until each subscriber has it.</summary>
    private async Task FenceGroupAsync(string group, params RecordingInbox[] subscribers)
    {
        var marker = NextMarker();
        await Done(Backplane.PublishAsync(group, TestMessages.ToGroup(group, marker, originNodeId: null)), "publishing a marker");
        foreach (var inbox in subscribers)
        {
            await inbox.WaitForLabelAsync(marker);
        }
    }

    /// <summary>The labels an inbox received, markers left out.</summary>
    private static string[] Received(RecordingInbox inbox) => inbox.Labels.Where(l => !l.StartsWith("marker-", StringComparison.Ordinal)).ToArray();

    // ---- direct sends ----

    [Fact]
    public async Task Send_ReachesOnlyTheTargetNode_Once()
    {
        var a = await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");

        await Done(Backplane.SendAsync("node-b", TestMessages.Create("m1", "node-a")), "send");
        await FenceDirectAsync(a, b, c);

        Received(b).ShouldBe(["m1"]);
        Received(a).ShouldBeEmpty();
        Received(c).ShouldBeEmpty();
    }

    [Fact]
    public async Task Send_KeepsTargetFromAndFramePrefix()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var sent = TestMessages.Create("m1", "node-a", new Target(TargetKind.Connection, "node-b.xyz"));

        await Done(Backplane.SendAsync("node-b", sent), "send");
        await b.WaitForCountAsync(1);

        var received = b.Messages.Single();
        received.Target.ShouldBe(sent.Target);
        received.From.ShouldBe(sent.From);
        received.OriginNodeId.ShouldBe("node-a");
        received.FramePrefix.ShouldBe(sent.FramePrefix);
    }

    [Fact]
    public async Task Send_ToSelf_IsDelivered()
    {
        var a = await JoinAsync("node-a");

        await Done(Backplane.SendAsync("node-a", TestMessages.Create("m1", "node-a")), "send");

        await a.WaitForLabelAsync("m1");
    }

    [Fact]
    public async Task Send_FromOneNodeToAnother_ArrivesInOrder()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        const int count = 1_000;

        for (var i = 0; i < count; i++)
        {
            await Done(Backplane.SendAsync("node-b", TestMessages.Create($"m{i}", "node-a")), "send");
        }
        await b.WaitForCountAsync(count);

        b.Labels.ShouldBe(Enumerable.Range(0, count).Select(i => $"m{i}").ToArray());
    }

    [Fact]
    public async Task Send_FromTwoNodesConcurrently_KeepsEachSendersOrder()
    {
        await JoinAsync("node-a");
        await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        const int count = 500;

        async Task SendAll(string origin)
        {
            await Task.Yield();
            for (var i = 0; i < count; i++)
            {
                await Backplane.SendAsync("node-c", TestMessages.Create($"{origin}:{i}", origin));
            }
        }
        await Task.WhenAll(Task.Run(() => SendAll("node-a")), Task.Run(() => SendAll("node-b"))).WithTimeout("concurrent sends");
        await c.WaitForCountAsync(2 * count);

        foreach (var origin in new[] { "node-a", "node-b" })
        {
            c.Labels.Where(l => l.StartsWith(origin + ":", StringComparison.Ordinal))
                .ShouldBe(Enumerable.Range(0, count).Select(i => $"{origin}:{i}").ToArray(), $"order of messages from {origin}");
        }
    }

    [Fact]
    public async Task Send_ToUnknownNode_IncrementsUnroutableCount()
    {
        var a = await JoinAsync("node-a");
        var before = Backplane.UnroutableCount;

        await Done(Backplane.SendAsync("node-nowhere", TestMessages.Create("lost", "node-a")), "send");

        await Eventually.TrueAsync(() => Backplane.UnroutableCount == before + 1, "the unroutable count to go up by one");
        await FenceDirectAsync(a);
        Received(a).ShouldBeEmpty();
    }

    // ---- groups ----

    [Fact]
    public async Task Publish_ReachesEachSubscribedNodeOnce()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "room"), "subscribe");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", b, c);

        Received(b).ShouldBe(["m1"]);
        Received(c).ShouldBe(["m1"]);
    }

    [Fact]
    public async Task Publish_NeverReachesTheOriginNode()
    {
        var a = await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        await Done(Backplane.SubscribeAsync("node-a", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", a, b);

        Received(a).ShouldBeEmpty();
        Received(b).ShouldBe(["m1"]);
    }

    [Fact]
    public async Task Publish_NeverReachesUnsubscribedNodes()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var outsider = await JoinAsync("node-outsider");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-outsider", "other-room"), "subscribe");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", b);
        // The outsider is on no path the publish could take; fence both of its paths.
        await FenceGroupAsync("other-room", outsider);
        await FenceDirectAsync(outsider);

        Received(b).ShouldBe(["m1"]);
        Received(outsider).ShouldBeEmpty();
    }

    [Fact]
    public async Task Publish_FromTheGateway_ReachesEverySubscribedNode()
    {
        var a = await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        await Done(Backplane.SubscribeAsync("node-a", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", originNodeId: null)), "publish");
        await FenceGroupAsync("room", a, b);

        Received(a).ShouldBe(["m1"]);
        Received(b).ShouldBe(["m1"]);
    }

    [Fact]
    public async Task Publish_FromOneNode_ArrivesInOrder()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        const int count = 1_000;

        for (var i = 0; i < count; i++)
        {
            await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", $"m{i}", "node-a")), "publish");
        }
        await b.WaitForCountAsync(count);

        b.Labels.ShouldBe(Enumerable.Range(0, count).Select(i => $"m{i}").ToArray());
    }

    [Fact]
    public async Task Publish_AfterUnsubscribe_StopsReachingThatNode()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "room"), "subscribe");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "before", "node-a")), "publish");
        await FenceGroupAsync("room", b, c);

        await Done(Backplane.UnsubscribeAsync("node-c", "room"), "unsubscribe");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "after", "node-a")), "publish");
        await FenceGroupAsync("room", b);
        await FenceDirectAsync(c);

        Received(b).ShouldBe(["before", "after"]);
        Received(c).ShouldBe(["before"]);
    }

    [Fact]
    public async Task Unsubscribe_WhenNotSubscribed_IsHarmless()
    {
        var b = await JoinAsync("node-b");

        await Done(Backplane.UnsubscribeAsync("node-b", "room"), "unsubscribe");
        await Done(Backplane.UnsubscribeAsync("node-b", "room"), "unsubscribe");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", null)), "publish");

        await b.WaitForLabelAsync("m1");
    }

    [Fact]
    public async Task Subscribe_Twice_StillDeliversOnce()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe again");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", b);

        Received(b).ShouldBe(["m1"]);
    }

    [Fact]
    public async Task Publish_ToAGroup_DoesNotReachSubscribersOfAnotherGroup()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "room-2"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "Room"), "subscribe");

        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", b);
        await FenceGroupAsync("room-2", c);
        await FenceGroupAsync("Room", c);

        Received(b).ShouldBe(["m1"]);
        Received(c).ShouldBeEmpty();
    }

    [Fact]
    public async Task Publish_ToGroupNamesWithSpecialCharacters_IsExact()
    {
        // Group names are user input: wildcard-like characters must not widen delivery.
        await JoinAsync("node-a");
        var exact = await JoinAsync("node-exact");
        var other = await JoinAsync("node-other");
        await Done(Backplane.SubscribeAsync("node-exact", "a.*#/b"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-other", "a.x#/b"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-other", "a.*.b"), "subscribe");

        await Done(Backplane.PublishAsync("a.*#/b", TestMessages.ToGroup("a.*#/b", "m1", "node-a")), "publish");
        await FenceGroupAsync("a.*#/b", exact);
        await FenceGroupAsync("a.x#/b", other);

        Received(exact).ShouldBe(["m1"]);
        Received(other).ShouldBeEmpty();
    }

    // ---- broadcast ----

    [Fact]
    public async Task Broadcast_ReachesEveryJoinedNodeExceptTheOrigin_Once()
    {
        var a = await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe"); // group membership must not duplicate a broadcast

        await Done(Backplane.BroadcastAsync(TestMessages.Create("m1", "node-a", Target.All)), "broadcast");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("fence", "node-z", Target.All)), "broadcast fence");
        await a.WaitForLabelAsync("fence");
        await b.WaitForLabelAsync("fence");
        await c.WaitForLabelAsync("fence");

        a.Labels.ShouldBe(["fence"]);
        b.Labels.ShouldBe(["m1", "fence"]);
        c.Labels.ShouldBe(["m1", "fence"]);
    }

    [Fact]
    public async Task Broadcast_FromTheGateway_ReachesEveryNode()
    {
        var a = await JoinAsync("node-a");
        var b = await JoinAsync("node-b");

        await Done(Backplane.BroadcastAsync(TestMessages.Create("m1", originNodeId: null, Target.All)), "broadcast");

        await a.WaitForLabelAsync("m1");
        await b.WaitForLabelAsync("m1");
    }

    // ---- control stream ----

    [Fact]
    public async Task Heartbeat_ReachesEveryObserver()
    {
        var first = await ObserveAsync();
        var second = await ObserveAsync();
        var heartbeat = TestData.Heartbeat("node-a", epoch: 7, connections: 42);

        await Done(Backplane.PublishHeartbeatAsync(heartbeat), "heartbeat");

        foreach (var observer in new[] { first, second })
        {
            await Eventually.TrueAsync(() => observer.Heartbeats.Count == 1, "the heartbeat to arrive");
            observer.Heartbeats.Single().ShouldBe(heartbeat);
        }
    }

    [Fact]
    public async Task Presence_ReachesEveryObserver()
    {
        var first = await ObserveAsync();
        var second = await ObserveAsync();
        var delta = new PresenceDelta("node-a", 3, ["bob", "carol"], ["dave"]);

        await Done(Backplane.PublishPresenceAsync(delta), "presence");

        foreach (var observer in new[] { first, second })
        {
            await Eventually.TrueAsync(() => observer.Presence.Count == 1, "the presence delta to arrive");
            var received = observer.Presence.Single();
            received.NodeId.ShouldBe("node-a");
            received.Epoch.ShouldBe(3);
            received.Joined.ShouldBe(["bob", "carol"]);
            received.Left.ShouldBe(["dave"]);
        }
    }

    [Fact]
    public async Task NodeLeft_ReachesEveryObserver()
    {
        var first = await ObserveAsync();
        var second = await ObserveAsync();

        await Done(Backplane.PublishNodeLeftAsync("node-a", 5), "node left");

        foreach (var observer in new[] { first, second })
        {
            await Eventually.TrueAsync(() => observer.NodesLeft.Count == 1, "the departure to arrive");
            observer.NodesLeft.Single().ShouldBe(("node-a", 5L));
        }
    }

    [Fact]
    public async Task ThrowingObserver_DoesNotStopOtherObservers()
    {
        _registrations.Add(await Backplane.ObserveAsync(new ThrowingObserver()).WithTimeout("observing"));
        var healthy = await ObserveAsync();

        await Should.NotThrowAsync(() => Backplane.PublishHeartbeatAsync(TestData.Heartbeat("node-a")).AsTask()).WithTimeout("heartbeat");
        await Should.NotThrowAsync(() => Backplane.PublishPresenceAsync(TestData.Joined("node-a", 1, "bob")).AsTask()).WithTimeout("presence");
        await Should.NotThrowAsync(() => Backplane.PublishNodeLeftAsync("node-a", 1).AsTask()).WithTimeout("node left");

        await Eventually.TrueAsync(() => healthy.Heartbeats.Count == 1 && healthy.Presence.Count == 1 && healthy.NodesLeft.Count == 1,
            "the healthy observer to receive all three");
    }

    private sealed class ThrowingObserver : IClusterObserver
    {
        public void OnHeartbeat(NodeHeartbeat heartbeat) => throw new InvalidOperationException("observer fails on purpose");

        public void OnPresence(PresenceDelta delta) => throw new InvalidOperationException("observer fails on purpose");

        public void OnNodeLeft(string nodeId, long epoch) => throw new InvalidOperationException("observer fails on purpose");
    }

    [Fact]
    public async Task ControlStream_FromOnePublisher_ArrivesInOrder()
    {
        var observer = await ObserveAsync();

        for (var i = 0; i < 100; i++)
        {
            await Done(Backplane.PublishPresenceAsync(TestData.Joined("node-a", 1, $"user-{i}")), "presence");
        }

        // A backplane may merge consecutive deltas of one node (fewer control messages); the order must survive.
        await Eventually.TrueAsync(() => observer.Presence.Sum(d => d.Joined.Count) == 100, "all presence deltas");
        observer.Presence.SelectMany(d => d.Joined).ShouldBe(Enumerable.Range(0, 100).Select(i => $"user-{i}").ToArray());
    }

    [Fact]
    public async Task DisposedObserver_StopsReceiving()
    {
        var stays = await ObserveAsync();
        var leaves = new RecordingObserver();
        var registration = await Backplane.ObserveAsync(leaves).WithTimeout("observing");
        await registration.DisposeAsync().AsTask().WithTimeout("stop observing");

        await Done(Backplane.PublishHeartbeatAsync(TestData.Heartbeat("node-a")), "heartbeat");
        await Done(Backplane.PublishPresenceAsync(TestData.Joined("node-a", 1, "bob")), "presence");
        await Done(Backplane.PublishNodeLeftAsync("node-a", 1), "node left");
        await Eventually.TrueAsync(() => stays.NodesLeft.Count == 1, "the remaining observer to see the departure");

        leaves.Heartbeats.ShouldBeEmpty();
        leaves.Presence.ShouldBeEmpty();
        leaves.NodesLeft.ShouldBeEmpty();
    }

    [Fact]
    public async Task Observers_DoNotReceiveNodeMessages()
    {
        var observer = await ObserveAsync();
        var b = await JoinAsync("node-b");

        await Done(Backplane.SendAsync("node-b", TestMessages.Create("m1", "node-a")), "send");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("m2", "node-a", Target.All)), "broadcast");
        await b.WaitForLabelAsync("m2");

        observer.Heartbeats.ShouldBeEmpty();
        observer.Presence.ShouldBeEmpty();
        observer.NodesLeft.ShouldBeEmpty();
    }

    // ---- leaving ----

    [Fact]
    public async Task DisposingJoin_StopsDelivery()
    {
        await JoinAsync("node-a");
        var (b, registration) = await JoinWithRegistrationAsync("node-b");
        await Done(Backplane.SendAsync("node-b", TestMessages.Create("before", "node-a")), "send");
        await b.WaitForLabelAsync("before");

        await registration.DisposeAsync().AsTask().WithTimeout("leaving");
        var unroutableBefore = Backplane.UnroutableCount;
        await Done(Backplane.SendAsync("node-b", TestMessages.Create("after", "node-a")), "send");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("after-broadcast", "node-a", Target.All)), "broadcast");

        await Eventually.TrueAsync(() => Backplane.UnroutableCount == unroutableBefore + 1, "the send to the departed node to count as unroutable");
        b.Labels.ShouldBe(["before"]);
    }

    [Fact]
    public async Task DisposingJoin_DropsItsGroupSubscriptions()
    {
        await JoinAsync("node-a");
        var (_, registration) = await JoinWithRegistrationAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "room"), "subscribe");
        await registration.DisposeAsync().AsTask().WithTimeout("leaving");

        // The same node id comes back (a restart): it must not inherit the old subscriptions.
        var restarted = await JoinAsync("node-b");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await FenceGroupAsync("room", c);
        await FenceDirectAsync(restarted);

        Received(c).ShouldBe(["m1"]);
        Received(restarted).ShouldBeEmpty();
    }

    [Fact]
    public async Task DisposingJoinTwice_IsHarmless()
    {
        var (_, registration) = await JoinWithRegistrationAsync("node-b");

        await registration.DisposeAsync().AsTask().WithTimeout("leaving");
        await registration.DisposeAsync().AsTask().WithTimeout("leaving again");
        var rejoined = await JoinAsync("node-b");
        await Done(Backplane.SendAsync("node-b", TestMessages.Create("m1", null)), "send");

        await rejoined.WaitForLabelAsync("m1");
    }

    [Fact]
    public async Task DisposingOneNode_DoesNotAffectTheOthers()
    {
        await JoinAsync("node-a");
        var (_, registration) = await JoinWithRegistrationAsync("node-b");
        var c = await JoinAsync("node-c");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        await Done(Backplane.SubscribeAsync("node-c", "room"), "subscribe");

        await registration.DisposeAsync().AsTask().WithTimeout("leaving");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m1", "node-a")), "publish");
        await Done(Backplane.SendAsync("node-c", TestMessages.Create("m2", "node-a")), "send");

        await c.WaitForLabelAsync("m2");
        Received(c).ShouldBe(["m1", "m2"]);
    }

    // ---- faulty inbox ----

    [Fact]
    public async Task ThrowingInbox_DoesNotStopLaterDeliveries()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        await Done(Backplane.SubscribeAsync("node-b", "room"), "subscribe");
        b.ThrowOnLabel = "boom";

        await Done(Backplane.SendAsync("node-b", TestMessages.Create("m1", "node-a")), "send");
        await Done(Backplane.SendAsync("node-b", TestMessages.Create("boom", "node-a")), "send");
        await Done(Backplane.SendAsync("node-b", TestMessages.Create("m2", "node-a")), "send");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "boom", "node-a")), "publish");
        await Done(Backplane.PublishAsync("room", TestMessages.ToGroup("room", "m3", "node-a")), "publish");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("boom", "node-a", Target.All)), "broadcast");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("m4", "node-a", Target.All)), "broadcast");

        await b.WaitForLabelAsync("m4");
        b.Labels.ShouldBe(["m1", "m2", "m3", "m4"]);
    }

    [Fact]
    public async Task ThrowingInbox_DoesNotAffectOtherNodes()
    {
        await JoinAsync("node-a");
        var b = await JoinAsync("node-b");
        var c = await JoinAsync("node-c");
        b.ThrowOnLabel = "boom";

        await Done(Backplane.BroadcastAsync(TestMessages.Create("boom", "node-a", Target.All)), "broadcast");
        await Done(Backplane.BroadcastAsync(TestMessages.Create("m1", "node-a", Target.All)), "broadcast");

        await b.WaitForLabelAsync("m1");
        await c.WaitForLabelAsync("m1");
        c.Labels.ShouldBe(["boom", "m1"]);
    }

    private Task<byte[]> Ask(string nodeId, string kind, string body, TimeSpan? timeout = null) =>
        Backplane.RequestAsync(nodeId, kind, System.Text.Encoding.UTF8.GetBytes(body), timeout ?? TimeSpan.FromSeconds(5)).AsTask().WithTimeout($"asking {nodeId}");

    [Fact]
    public async Task Request_IsAnsweredByTheNamedNodeOnly()
    {
        await JoinAsync("node-a");
        await JoinAsync("node-b");

        var answer = await Ask("node-b", "session.take", "s1");

        System.Text.Encoding.UTF8.GetString(answer).ShouldBe("node-b:session.take:s1");
    }

    [Fact]
    public async Task Requests_InParallel_EachGetTheirOwnAnswer()
    {
        await JoinAsync("node-a");
        await JoinAsync("node-b");

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Ask(i % 2 == 0 ? "node-a" : "node-b", "k", i.ToString())));

        for (var i = 0; i < 20; i++)
        {
            System.Text.Encoding.UTF8.GetString(answers[i]).ShouldBe($"{(i % 2 == 0 ? "node-a" : "node-b")}:k:{i}");
        }
    }

    [Fact]
    public async Task Request_ToUnknownNode_FailsWithNoSuchNode()
    {
        await JoinAsync("node-a");

        var failure = await Should.ThrowAsync<BackplaneRequestException>(() => Ask("node-x", "k", "b"));

        failure.Failure.ShouldBe(BackplaneRequestFailure.NoSuchNode);
    }

    [Fact]
    public async Task Request_WhoseHandlerThrows_FailsWithFailed_AndTheNodeKeepsAnswering()
    {
        await JoinAsync("node-a");

        var failure = await Should.ThrowAsync<BackplaneRequestException>(() => Ask("node-a", "fail", "b"));

        failure.Failure.ShouldBe(BackplaneRequestFailure.Failed);
        System.Text.Encoding.UTF8.GetString(await Ask("node-a", "k", "after")).ShouldBe("node-a:k:after");
    }

    [Fact]
    public async Task Request_NotAnsweredInTime_FailsWithTimeout()
    {
        await JoinAsync("node-a");

        var failure = await Should.ThrowAsync<BackplaneRequestException>(() => Ask("node-a", "never", "b", TimeSpan.FromMilliseconds(300)));

        failure.Failure.ShouldBe(BackplaneRequestFailure.Timeout);
    }

    [Fact]
    public async Task Request_IsNotDeliveredAsAMessage()
    {
        var a = await JoinAsync("node-a");

        await Ask("node-a", "k", "b");
        await FenceDirectAsync(a);

        a.Labels.ShouldAllBe(l => l.StartsWith("marker-"));
    }

    [Fact]
    public async Task Send_KeepsTheMessageId()
    {
        var a = await JoinAsync("node-a");
        var sent = TestMessages.Create("m1", "node-b");

        await Done(Backplane.SendAsync("node-a", sent), "sending");
        await a.WaitForLabelAsync("m1");

        a.Messages.Single().Id.ShouldBe(sent.Id);
    }

    [Fact]
    public async Task Election_HasOneLeader_AndHandsOverWhenItLeaves()
    {
        var first = await Backplane.ElectAsync("test-role").AsTask().WithTimeout("electing");
        var second = await Backplane.ElectAsync("test-role").AsTask().WithTimeout("electing");
        var other = await Backplane.ElectAsync("other-role").AsTask().WithTimeout("electing");
        try
        {
            await Eventually.TrueAsync(() => first.IsLeader ^ second.IsLeader, "exactly one leader of test-role");
            await Eventually.TrueAsync(() => other.IsLeader, "the only participant of other-role to lead it");
            var (leader, follower) = first.IsLeader ? (first, second) : (second, first);

            await leader.DisposeAsync().AsTask().WithTimeout("the leader leaving");

            await Eventually.TrueAsync(() => follower.IsLeader, "the other participant to take over");
            leader.IsLeader.ShouldBeFalse();
        }
        finally
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
            await other.DisposeAsync();
        }
    }
}
