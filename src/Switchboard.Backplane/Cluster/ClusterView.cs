using System.Collections.Concurrent;
using Switchboard.Backplane.Presence;

namespace Switchboard.Backplane.Cluster;

/// <summary>A node as an observer last heard of it.</summary>
/// <param name="Heartbeat">The latest heartbeat.</param>
/// <param name="ReceivedAt">When this observer received it (its own clock, so clock skew between machines does not matter).</param>
public sealed record NodeState(NodeHeartbeat Heartbeat, DateTimeOffset ReceivedAt);

/// <summary>Options of <see cref="ClusterView"/>.</summary>
public sealed class ClusterViewOptions
{
    /// <summary>How often nodes send heartbeats.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Heartbeat intervals without news after which a node is evicted: no longer listed among the live nodes.</summary>
    public int MissedHeartbeatsBeforeEviction { get; set; } = 3;

    /// <summary>
    /// How long the users of an evicted node stay in the directory, so that messages for them still go to the node's
    /// queue: a node that was only paused (a long GC, starved cores) finds them there when it runs again. A node that
    /// is heard again keeps them; one that left, whose queue the broker deleted, or that restarted loses them at once.
    /// <see cref="TimeSpan.Zero"/> forgets them with the node.
    /// </summary>
    public TimeSpan SilentNodeUsersKeptFor { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether the view keeps the presence directory (who is on which node). An observer that routes by node only, such
    /// as the proxy, turns it off and holds no entry per user of the cluster.
    /// </summary>
    public bool TrackPresence { get; set; } = true;

    /// <summary>
    /// The id of the node that observes, when the observer is a node: its own presence is not kept. A node delivers to
    /// its own users itself and routes only to the others, so the entry per local user, and the work of reading back
    /// its own periodic snapshots, would buy nothing.
    /// </summary>
    public string? OwnNodeId { get; set; }
}

/// <summary>
/// An observer's picture of the cluster: the latest heartbeat of every live node and the presence
/// directory. A node whose heartbeats stop is evicted after <see cref="ClusterViewOptions.MissedHeartbeatsBeforeEviction"/>
/// intervals, and its users <see cref="ClusterViewOptions.SilentNodeUsersKeptFor"/> later unless it is heard again.
/// </summary>
public sealed class ClusterView : IClusterObserver, IDisposable
{
    private readonly ConcurrentDictionary<string, NodeState> _nodes = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _evictAfter;
    private readonly TimeSpan _interval;
    private DateTimeOffset _lastCheck;
    private DateTimeOffset _graceUntil;
    private readonly ITimer _evictionTimer;
    private readonly bool _trackPresence;
    private readonly string? _ownNodeId;
    private readonly TimeSpan _usersKeptFor;
    private readonly Dictionary<string, SilentNode> _silent = new(StringComparer.Ordinal);
    private readonly Lock _silentLock = new();

    /// <summary>Creates a view that checks for silent nodes four times per heartbeat interval.</summary>
    public ClusterView(ClusterViewOptions options, TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _evictAfter = options.HeartbeatInterval * options.MissedHeartbeatsBeforeEviction;
        _interval = options.HeartbeatInterval;
        _trackPresence = options.TrackPresence;
        _ownNodeId = options.OwnNodeId;
        _usersKeptFor = options.SilentNodeUsersKeptFor;
        // Checking only once per interval would let a dead node linger almost a whole extra interval.
        var check = options.HeartbeatInterval / 4;
        _evictionTimer = _time.CreateTimer(_ => EvictSilentNodes(), null, check, check);
    }

    /// <summary>Who is where; empty of users when <see cref="ClusterViewOptions.TrackPresence"/> is off.</summary>
    public PresenceDirectory Directory { get; } = new();

    /// <summary>Raised after a node was forgotten, because it left or went silent.</summary>
    public event Action<string>? NodeRemoved;

    /// <summary>
    /// Raised when a node is evicted for silence (before <see cref="NodeRemoved"/>), with how long it had been silent
    /// and how long its users stay in the directory.
    /// </summary>
    public event Action<string, TimeSpan, TimeSpan>? NodeEvicted;

    /// <summary>Raised after each heartbeat was recorded.</summary>
    public event Action<NodeHeartbeat>? HeartbeatReceived;

    /// <summary>The live nodes, in no particular order.</summary>
    public IReadOnlyCollection<NodeState> Nodes => _nodes.Values.ToArray();

    /// <summary>The latest state of one node, if it is live.</summary>
    public bool TryGetNode(string nodeId, out NodeState state) => _nodes.TryGetValue(nodeId, out state!);

    /// <inheritdoc/>
    public void OnHeartbeat(NodeHeartbeat heartbeat)
    {
        var state = new NodeState(heartbeat, _time.GetUtcNow());
        _nodes.AddOrUpdate(heartbeat.NodeId, state, (_, old) => heartbeat.Epoch >= old.Heartbeat.Epoch ? state : old);
        Directory.ObserveEpoch(heartbeat.NodeId, heartbeat.Epoch);
        EndSilence(heartbeat.NodeId, heartbeat.Epoch);
        HeartbeatReceived?.Invoke(heartbeat);
    }

    /// <inheritdoc/>
    public void OnPresence(PresenceDelta delta)
    {
        if (WantsPresenceOf(delta.NodeId))
        {
            Directory.Apply(delta);
        }
    }

    /// <inheritdoc/>
    public bool WantsPresenceOf(string nodeId) => _trackPresence && !string.Equals(nodeId, _ownNodeId, StringComparison.Ordinal);

    /// <inheritdoc/>
    public void OnNodeLeft(string nodeId, long epoch)
    {
        // A departure of an older life of the node must not erase the restarted node (seen by heartbeat or presence).
        if (_nodes.TryGetValue(nodeId, out var state) && state.Heartbeat.Epoch > epoch)
        {
            return;
        }
        if (!Directory.RemoveNode(nodeId, upToEpoch: epoch))
        {
            return;
        }
        EndSilence(nodeId, epoch);
        var removed = state is not null && _nodes.TryRemove(new KeyValuePair<string, NodeState>(nodeId, state));
        if (removed || state is null)
        {
            NodeRemoved?.Invoke(nodeId);
        }
    }

    /// <summary>Forgets nodes whose last heartbeat is older than the eviction age. Runs on a timer; public for tests on virtual time.</summary>
    public void EvictSilentNodes()
    {
        var now = _time.GetUtcNow();
        var last = _lastCheck;
        _lastCheck = now;
        if (last != default && now - last > _evictAfter / 2)
        {
            // This check comes far later than planned: this process itself did not run (a long pause, starved cores), so
            // the silence it sees is its own, and heartbeats that came meanwhile may still wait to be read. Forgetting
            // every node now would drop all their users from the directory until their next snapshots, and messages to
            // them with it; one heartbeat interval from now, a node still silent is evicted.
            _graceUntil = now + _interval;
            return;
        }
        if (now < _graceUntil)
        {
            return;
        }
        var cutoff = now - _evictAfter;
        foreach (var (nodeId, state) in _nodes)
        {
            // Removes exactly the stale state: a heartbeat that lands meanwhile keeps the node.
            if (state.ReceivedAt < cutoff && _nodes.TryRemove(new KeyValuePair<string, NodeState>(nodeId, state)))
            {
                var usersKeptFor = KeepUsersOfSilentNode(nodeId, state.Heartbeat.Epoch, now);
                NodeEvicted?.Invoke(nodeId, now - state.ReceivedAt, usersKeptFor);
                NodeRemoved?.Invoke(nodeId);
            }
        }
        ForgetUsersOfLongSilentNodes(now);
    }

    private TimeSpan KeepUsersOfSilentNode(string nodeId, long epoch, DateTimeOffset now)
    {
        if (!_trackPresence || _usersKeptFor <= TimeSpan.Zero)
        {
            Directory.RemoveNode(nodeId, upToEpoch: epoch);
            return TimeSpan.Zero;
        }
        // Silence alone does not say the node is gone: a dead node's queue is deleted by the broker, which observers
        // hear of (OnNodeLeft, with the broker's event exchange) and which drops its users at once. Until then its queue
        // keeps what is sent to its users.
        lock (_silentLock)
        {
            var forgetAt = _usersKeptFor < DateTimeOffset.MaxValue - now ? now + _usersKeptFor : DateTimeOffset.MaxValue;
            _silent[nodeId] = new SilentNode(epoch, forgetAt);
        }
        return _usersKeptFor;
    }

    private void ForgetUsersOfLongSilentNodes(DateTimeOffset now)
    {
        lock (_silentLock)
        {
            foreach (var (nodeId, silent) in _silent)
            {
                if (silent.ForgetAt > now)
                {
                    continue;
                }
                _silent.Remove(nodeId);
                // A heartbeat that landed between this node's eviction and its entry here found no entry to end, so
                // the node may be live again: then its users are current.
                if (!(_nodes.TryGetValue(nodeId, out var live) && live.Heartbeat.Epoch >= silent.Epoch))
                {
                    Directory.RemoveNode(nodeId, upToEpoch: silent.Epoch);
                }
            }
        }
    }

    private void EndSilence(string nodeId, long epoch)
    {
        lock (_silentLock)
        {
            if (_silent.TryGetValue(nodeId, out var silent) && epoch >= silent.Epoch)
            {
                _silent.Remove(nodeId);
            }
        }
    }

    /// <summary>
    /// True while <paramref name="nodeId"/> is evicted for silence but its users are kept: the directory names it, yet
    /// it would not answer a request.
    /// </summary>
    public bool IsSilent(string nodeId)
    {
        lock (_silentLock)
        {
            return _silent.ContainsKey(nodeId);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _evictionTimer.Dispose();

    private readonly record struct SilentNode(long Epoch, DateTimeOffset ForgetAt);
}
