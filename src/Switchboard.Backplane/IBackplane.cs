using Switchboard.Protocol;

namespace Switchboard.Backplane;

/// <summary>
/// Routes frames between the nodes of a cluster, and carries heartbeats and presence to every observer
/// (nodes and gateways).
/// </summary>
/// <remarks>
/// Guarantees, for every implementation: delivery is at most once; messages from one node to one node
/// arrive in the order they were sent; a message reaches each destination node once (a group publish
/// reaches each subscribed node once, never the nodes without members). Nothing is stored: a message for
/// a node that is not joined is counted in <see cref="UnroutableCount"/> and dropped.
/// </remarks>
public interface IBackplane : IAsyncDisposable
{
    /// <summary>Makes a node reachable: direct messages, its group subscriptions and broadcasts go to <paramref name="inbox"/>.</summary>
    /// <returns>Disposing it leaves the backplane and drops the node's group subscriptions.</returns>
    ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default);

    /// <summary>Starts delivering heartbeats, presence and node departures to <paramref name="observer"/>.</summary>
    /// <returns>Disposing it stops the deliveries.</returns>
    ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default);

    /// <summary>Sends a message to one node: one hop.</summary>
    ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default);

    /// <summary>Sends a message once to every node subscribed to <paramref name="group"/>, except its origin node.</summary>
    ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default);

    /// <summary>Sends a message once to every joined node, except its origin node.</summary>
    ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default);

    /// <summary>Subscribes a node to a group's messages (when its first local member joins).</summary>
    ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default);

    /// <summary>Unsubscribes a node from a group (when its last local member leaves).</summary>
    ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default);

    /// <summary>Publishes a node's heartbeat to every observer.</summary>
    ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default);

    /// <summary>Publishes users joining and leaving a node to every observer.</summary>
    ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default);

    /// <summary>Tells every observer that a node left on purpose (shutdown), so they forget it at once.</summary>
    ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends a request to one joined node and waits for its answer (from <see cref="INodeInbox.OnRequestAsync"/>).
    /// At most once, never retried; requests and answers are not ordered with routed messages.
    /// </summary>
    /// <param name="nodeId">The node that answers.</param>
    /// <param name="kind">What is asked (the node dispatches on it), e.g. <c>session.take</c> or <c>drain</c>.</param>
    /// <param name="body">The request, opaque to the backplane.</param>
    /// <param name="timeout">How long to wait for the answer.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The answer's body.</returns>
    /// <exception cref="BackplaneRequestException">The node is not joined, did not answer in time, failed, or the broker is unreachable.</exception>
    ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>
    /// Joins the election for <paramref name="role"/> (e.g. the gateways' rebalancer): at most one participant across
    /// the backplane holds the role at a time (short overlaps are possible while a leader's loss is detected); when
    /// the leader leaves or is cut off, another participant takes over.
    /// </summary>
    /// <returns>The participation; disposing it leaves the election (and gives up the role).</returns>
    ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes when every message handed to the backplane before the call is safe from this process's death: confirmed
    /// by the broker (at once in process). A node answers a failover proxy's <c>send</c> only then, so a node that dies
    /// after answering has not taken the message with it. Throws <see cref="BackplaneUnavailableException"/> when some of
    /// it may not have reached the broker.
    /// </summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>Messages dropped because their destination node was not joined, or the backplane was cut off from its broker.</summary>
    long UnroutableCount { get; }

    /// <summary>
    /// Raised when observers may lack this process's nodes and ask them to re-announce: after the backplane recovered
    /// from an outage (observers evicted the nodes meanwhile), and when an observer started or reconnected (it missed
    /// the presence sent before). A node answers with a presence snapshot and a heartbeat at once, rather than leave
    /// its users unreachable from that observer until its next periodic snapshot.
    /// </summary>
    event Action? AnnounceRequested;
}

/// <summary>A participation in an election (<see cref="IBackplane.ElectAsync"/>).</summary>
public interface ILeadership : IAsyncDisposable
{
    /// <summary>True while this participant holds the role.</summary>
    bool IsLeader { get; }
}

/// <summary>Receives the messages routed to one node.</summary>
public interface INodeInbox
{
    /// <summary>Called for each message, one at a time, in arrival order. Must not block.</summary>
    void OnMessage(RoutedMessage message);

    /// <summary>
    /// Answers a request sent with <see cref="IBackplane.RequestAsync"/>; may run concurrently with messages and other
    /// requests. An exception is reported to the requester as <see cref="BackplaneRequestFailure.Failed"/>.
    /// </summary>
    ValueTask<byte[]> OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"this node answers no '{kind}' requests");
}

/// <summary>Receives the cluster's control stream. Callbacks may come from any thread and must not block.</summary>
public interface IClusterObserver
{
    /// <summary>A node's periodic heartbeat.</summary>
    void OnHeartbeat(NodeHeartbeat heartbeat);

    /// <summary>Users joined or left a node.</summary>
    void OnPresence(PresenceDelta delta);

    /// <summary>
    /// False when this observer has no use for <paramref name="nodeId"/>'s presence (a node's own, say): a backplane may
    /// then skip decoding it, which matters for the periodic full snapshots.
    /// </summary>
    bool WantsPresenceOf(string nodeId) => true;

    /// <summary>A node left the cluster on purpose.</summary>
    void OnNodeLeft(string nodeId, long epoch);
}
