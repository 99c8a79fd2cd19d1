using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;

namespace Switchboard.Gateway.Placement;

/// <summary>
/// Counts this gateway's placements into each node until the node's heartbeats show them. Without it, every
/// placement between two heartbeats would see the same figures and pile onto the same node.
/// </summary>
/// <remarks>
/// Each placement adds a pending entry. When a heartbeat shows that connections arrived at the node since its
/// previous one (<see cref="NodeHeartbeat.Arrivals"/>), that many of the oldest entries are settled; a node that does
/// not count arrivals settles as many as its connection count grew, which misses connections that came and went
/// between two heartbeats. An entry older than the pending time (<see cref="GatewayOptions.PendingPlacementTime"/>)
/// lapses: a client that has not dialled by then is not counted on, so tickets handed out and never used cannot hold a
/// node "full" for long. Its ticket is still good, though, so a lapsed entry is kept, uncounted, until the ticket has
/// expired on the node too (the ticket lifetime plus <see cref="TicketClockSkew"/>), and arrivals settle lapsed
/// entries before pending ones: a client dialling late must not settle the entry of another, still on its way.
/// </remarks>
internal sealed class PlacementTracker : IDisposable
{
    private readonly Dictionary<string, NodeEntry> _nodes = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly ClusterView _view;
    private readonly TimeSpan _pendingTime;
    private readonly TimeSpan _ticketValidity;
    private readonly TimeProvider _time;

    /// <summary>
    /// How long past its expiry a node still takes a ticket: the default of <c>Node:TicketClockSkew</c>, which the
    /// gateway does not know.
    /// </summary>
    internal static readonly TimeSpan TicketClockSkew = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Tracks placements into the nodes of <paramref name="view"/>, settling them as its heartbeats arrive; one not
    /// seen after <paramref name="pendingTime"/> lapses, and one whose ticket (<paramref name="ticketLifetime"/>) can no
    /// longer be used is forgotten.
    /// </summary>
    public PlacementTracker(ClusterView view, TimeSpan pendingTime, TimeSpan ticketLifetime, TimeProvider time)
    {
        _view = view;
        _pendingTime = pendingTime;
        _ticketValidity = ticketLifetime + TicketClockSkew;
        _time = time;
        view.HeartbeatReceived += OnHeartbeat;
        view.NodeRemoved += OnNodeRemoved;
    }

    /// <summary>Notes one placement into <paramref name="nodeId"/>.</summary>
    public void Record(string nodeId)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var entry))
            {
                // The tracker may start after the node's heartbeats did (it is made on the first placement): the
                // heartbeat the placement was based on is the baseline the next one is compared with.
                entry = _view.TryGetNode(nodeId, out var known) ? NodeEntry.From(known.Heartbeat) : new NodeEntry();
                _nodes[nodeId] = entry;
            }
            entry.Pending.Enqueue(now);
        }
    }

    /// <summary>Placements into <paramref name="nodeId"/> not yet seen in its heartbeats nor older than the pending time.</summary>
    public int Pending(string nodeId)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var entry))
            {
                return 0;
            }
            Expire(entry, now);
            return entry.Pending.Count;
        }
    }

    /// <summary>
    /// Settles as many placements as connections arrived at the node since its previous heartbeat: lapsed ones first,
    /// then pending ones, oldest first.
    /// </summary>
    public void OnHeartbeat(NodeHeartbeat heartbeat)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_nodes.TryGetValue(heartbeat.NodeId, out var entry))
            {
                _nodes[heartbeat.NodeId] = NodeEntry.From(heartbeat);
                return;
            }
            if (entry.LastConnections is not null && heartbeat.Epoch < entry.Epoch)
            {
                // A late heartbeat of the node's previous process: its figures say nothing about now.
                return;
            }
            if (entry.LastConnections is { } previous && heartbeat.Epoch == entry.Epoch)
            {
                var arrived = heartbeat.Arrivals > 0 ? heartbeat.Arrivals - entry.LastArrivals : heartbeat.Connections - previous;
                Expire(entry, now);
                for (; arrived > 0 && entry.Lapsed.Count > 0; arrived--)
                {
                    entry.Lapsed.Dequeue();
                }
                for (; arrived > 0 && entry.Pending.Count > 0; arrived--)
                {
                    entry.Pending.Dequeue();
                }
            }
            entry.Epoch = heartbeat.Epoch;
            entry.LastConnections = heartbeat.Connections;
            entry.LastArrivals = heartbeat.Arrivals;
        }
    }

    /// <summary>Forgets a node that left or went silent.</summary>
    public void OnNodeRemoved(string nodeId)
    {
        lock (_lock)
        {
            _nodes.Remove(nodeId);
        }
    }

    public void Dispose()
    {
        _view.HeartbeatReceived -= OnHeartbeat;
        _view.NodeRemoved -= OnNodeRemoved;
    }

    private void Expire(NodeEntry entry, DateTimeOffset now)
    {
        while (entry.Pending.TryPeek(out var placedAt) && placedAt <= now - _pendingTime)
        {
            entry.Lapsed.Enqueue(entry.Pending.Dequeue());
        }
        while (entry.Lapsed.TryPeek(out var placedAt) && placedAt <= now - _ticketValidity)
        {
            entry.Lapsed.Dequeue();
        }
    }

    private sealed class NodeEntry
    {
        public long Epoch;
        public int? LastConnections;
        public long LastArrivals;
        public Queue<DateTimeOffset> Pending { get; } = new();

        /// <summary>Placements past the pending time whose tickets a node may still take: not counted, settled first.</summary>
        public Queue<DateTimeOffset> Lapsed { get; } = new();

        /// <summary>An entry whose next heartbeat is compared with <paramref name="heartbeat"/>.</summary>
        public static NodeEntry From(NodeHeartbeat heartbeat) =>
            new() { Epoch = heartbeat.Epoch, LastConnections = heartbeat.Connections, LastArrivals = heartbeat.Arrivals };
    }
}
