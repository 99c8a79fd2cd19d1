using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Routing;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.Routing;

public sealed class ClusterRouterTests : IDisposable
{
    private readonly ManualTimeProvider _time = new();
    private readonly ClusterView _view;
    private readonly RecordingBackplane _backplane = new();
    private readonly ClusterRouter _router;

    public ClusterRouterTests()
    {
        _view = new ClusterView(new ClusterViewOptions(), _time);
        _router = new ClusterRouter(_backplane, _view);
    }

    public void Dispose() => _view.Dispose();

    private static RoutedMessage To(string target, string? origin)
    {
        Target.TryParse(target, out var parsed, out _).ShouldBeTrue();
        return new RoutedMessage(parsed, "user:alice", "{\"x\":1}"u8, origin);
    }

    private Task Route(RoutedMessage message) => _router.RouteAsync(message).AsTask().WithTimeout("routing");

    [Fact]
    public async Task UserTarget_SendsOneFramePerHoldingNode_SkippingTheOrigin()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-2", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-3", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-4", 1, "carol"));
        var message = To("user:bob", origin: "node-1");

        await Route(message);

        _backplane.Sends.Select(s => s.NodeId).ShouldBe(["node-2", "node-3"], ignoreOrder: true);
        _backplane.Sends.ShouldAllBe(s => ReferenceEquals(s.Message, message));
        _backplane.Publishes.ShouldBeEmpty();
        _backplane.Broadcasts.ShouldBeEmpty();
    }

    [Fact]
    public async Task UserTarget_FromTheGateway_GoesToEveryHoldingNode()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-2", 1, "bob"));

        await Route(To("user:bob", origin: null));

        _backplane.Sends.Select(s => s.NodeId).ShouldBe(["node-1", "node-2"], ignoreOrder: true);
    }

    [Fact]
    public async Task UserTarget_HeldOnlyByTheOrigin_SendsNothing()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));

        await Route(To("user:bob", origin: "node-1"));

        _backplane.Sends.ShouldBeEmpty();
    }

    [Fact]
    public async Task UserTarget_NotConnectedAnywhere_SendsNothing()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "carol"));

        await Route(To("user:bob", origin: "node-1"));

        _backplane.Sends.ShouldBeEmpty();
        _backplane.Publishes.ShouldBeEmpty();
        _backplane.Broadcasts.ShouldBeEmpty();
    }

    [Fact]
    public async Task UserTarget_AfterTheUserLeftANode_SkipsThatNode()
    {
        _view.OnPresence(TestData.Joined("node-1", 1, "bob"));
        _view.OnPresence(TestData.Joined("node-2", 1, "bob"));
        _view.OnPresence(TestData.Left("node-2", 1, "bob"));

        await Route(To("user:bob", origin: "node-9"));

        _backplane.Sends.Select(s => s.NodeId).ShouldBe(["node-1"]);
    }

    [Theory]
    [InlineData("conn:node-2.k3j4h5", "node-2")]
    [InlineData("conn:node.eu-west.7.k3j4h5", "node.eu-west.7")]
    [InlineData("conn:n.x", "n")]
    public async Task ConnectionTarget_GoesToTheNodeInTheConnectionId(string target, string node)
    {
        var message = To(target, origin: "node-1");

        await Route(message);

        _backplane.Sends.ShouldHaveSingleItem().ShouldBe((node, message));
        _backplane.Publishes.ShouldBeEmpty();
        _backplane.Broadcasts.ShouldBeEmpty();
    }

    [Fact]
    public async Task ConnectionTarget_NeedsNoDirectoryEntry()
    {
        // the directory knows nothing about node-2 or its users
        await Route(To("conn:node-2.abc", origin: null));

        _backplane.Sends.Select(s => s.NodeId).ShouldBe(["node-2"]);
    }

    [Fact]
    public async Task ConnectionTarget_OnTheOriginNode_SendsNothing()
    {
        await Route(To("conn:node-1.abc", origin: "node-1"));

        _backplane.Sends.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("conn:nodotatall")]
    [InlineData("conn:.leadingdot")]
    public async Task ConnectionTarget_WithoutANodePart_SendsNothing(string target)
    {
        await Route(To(target, origin: "node-1"));

        _backplane.Sends.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("node-2.abc", "node-2")]
    [InlineData("a.b.c", "a.b")]
    [InlineData("abc", null)]
    [InlineData(".abc", null)]
    [InlineData("", null)]
    public void NodeOfConnection_IsEverythingBeforeTheLastDot(string connectionId, string? node)
    {
        ClusterRouter.NodeOfConnection(connectionId).ShouldBe(node);
    }

    [Fact]
    public async Task GroupTarget_IsOnePublish()
    {
        _view.OnPresence(TestData.Joined("node-2", 1, "room")); // a user named like the group must not matter
        var message = To("group:room", origin: "node-1");

        await Route(message);

        _backplane.Publishes.ShouldHaveSingleItem().ShouldBe(("room", message));
        _backplane.Sends.ShouldBeEmpty();
        _backplane.Broadcasts.ShouldBeEmpty();
    }

    [Fact]
    public async Task AllTarget_IsOneBroadcast()
    {
        _view.OnPresence(TestData.Joined("node-2", 1, "bob"));
        var message = To("all", origin: "node-1");

        await Route(message);

        _backplane.Broadcasts.ShouldHaveSingleItem().ShouldBeSameAs(message);
        _backplane.Sends.ShouldBeEmpty();
        _backplane.Publishes.ShouldBeEmpty();
    }

    [Fact]
    public async Task RoutingOverTheInMemoryBackplane_ReachesTheHoldingNodesInboxOnly()
    {
        var backplane = new InMemoryBackplane();
        await backplane.ObserveAsync(_view).WithTimeout("observe");
        var inbox1 = new RecordingInbox("node-1");
        var inbox2 = new RecordingInbox("node-2");
        await backplane.JoinAsync("node-1", inbox1).WithTimeout("join");
        await backplane.JoinAsync("node-2", inbox2).WithTimeout("join");
        await backplane.PublishPresenceAsync(TestData.Joined("node-2", 1, "bob")).AsTask().WithTimeout("presence");
        await Eventually.TrueAsync(() => _view.Directory.GetNodes("bob").Count == 1, "bob in the directory");
        var router = new ClusterRouter(backplane, _view);

        await router.RouteAsync(TestMessages.Create("m1", "node-1", new Target(TargetKind.User, "bob"))).AsTask().WithTimeout("route");
        await router.RouteAsync(TestMessages.Create("m2", "node-2", new Target(TargetKind.Connection, "node-1.abc"))).AsTask().WithTimeout("route");

        await inbox2.WaitForLabelAsync("m1");
        await inbox1.WaitForLabelAsync("m2");
        inbox1.Labels.ShouldBe(["m2"]);
        inbox2.Labels.ShouldBe(["m1"]);

        await backplane.DisposeAsync().AsTask().WithTimeout("dispose");
    }

    /// <summary>Records what the router asks of the backplane.</summary>
    private sealed class RecordingBackplane : IBackplane
    {
        public List<(string NodeId, RoutedMessage Message)> Sends { get; } = [];

        public List<(string Group, RoutedMessage Message)> Publishes { get; } = [];

        public List<RoutedMessage> Broadcasts { get; } = [];

        public long UnroutableCount => 0;

        public event Action? AnnounceRequested { add { } remove { } }

        public ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default)
        {
            Sends.Add((nodeId, message));
            return ValueTask.CompletedTask;
        }

        public ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default)
        {
            Publishes.Add((group, message));
            return ValueTask.CompletedTask;
        }

        public ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default)
        {
            Broadcasts.Add(message);
            return ValueTask.CompletedTask;
        }

        public ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
