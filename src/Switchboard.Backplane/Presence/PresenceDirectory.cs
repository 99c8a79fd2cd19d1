using System.Collections.Concurrent;

namespace Switchboard.Backplane.Presence;

/// <summary>
/// Who is where: user → the nodes holding at least one of the user's connections, built from the
/// presence stream. Reads are lock-free (a send to a user reads it on every message); writes take one lock.
/// </summary>
public sealed class PresenceDirectory
{
    private readonly ConcurrentDictionary<string, string[]> _nodesByUser = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeEntry> _usersByNode = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The nodes holding <paramref name="userId"/>; empty when the user is not connected anywhere.</summary>
    public IReadOnlyList<string> GetNodes(string userId) =>
        _nodesByUser.TryGetValue(userId, out var nodes) ? nodes : [];

    /// <summary>The number of users present on <paramref name="nodeId"/>.</summary>
    public int CountUsers(string nodeId)
    {
        lock (_lock)
        {
            return _usersByNode.TryGetValue(nodeId, out var entry) ? entry.Users.Count : 0;
        }
    }

    /// <summary>
    /// Applies a presence delta, or replaces the node's users with a snapshot. A delta from a newer epoch of a node first forgets everything the
    /// node's older epoch reported (the node restarted); a delta from an older epoch is ignored.
    /// </summary>
    public void Apply(PresenceDelta delta)
    {
        lock (_lock)
        {
            if (!EnsureEpoch(delta.NodeId, delta.Epoch, out var entry))
            {
                return;
            }
            if (delta.IsSnapshot)
            {
                var present = new HashSet<string>(delta.Joined, StringComparer.Ordinal);
                foreach (var user in entry.Users.Where(u => !present.Contains(u)).ToArray())
                {
                    entry.Users.Remove(user);
                    RemoveUserNode(user, delta.NodeId);
                }
            }
            foreach (var user in delta.Joined)
            {
                if (entry.Users.Add(user))
                {
                    _nodesByUser.AddOrUpdate(user, static (_, node) => [node], static (_, nodes, node) => [.. nodes, node], delta.NodeId);
                }
            }
            foreach (var user in delta.Left)
            {
                if (entry.Users.Remove(user))
                {
                    RemoveUserNode(user, delta.NodeId);
                }
            }
        }
    }

    /// <summary>Notes a node's epoch from its heartbeat, forgetting its users when the epoch moved on.</summary>
    public void ObserveEpoch(string nodeId, long epoch)
    {
        lock (_lock)
        {
            EnsureEpoch(nodeId, epoch, out _);
        }
    }

    /// <summary>
    /// Forgets every user of a node (it left, or its heartbeats stopped). With <paramref name="upToEpoch"/>, only
    /// when the directory's entries are from that epoch or older, so a restarted node's fresh entries survive a
    /// late departure of its previous life. Returns false when newer entries were kept.
    /// </summary>
    public bool RemoveNode(string nodeId, long? upToEpoch = null)
    {
        lock (_lock)
        {
            if (upToEpoch is { } epoch && _usersByNode.TryGetValue(nodeId, out var entry) && entry.Epoch > epoch)
            {
                return false;
            }
            ForgetUsers(nodeId);
            _usersByNode.Remove(nodeId);
            return true;
        }
    }

    private bool EnsureEpoch(string nodeId, long epoch, out NodeEntry entry)
    {
        if (_usersByNode.TryGetValue(nodeId, out entry!))
        {
            if (epoch < entry.Epoch)
            {
                return false;
            }
            if (epoch > entry.Epoch)
            {
                ForgetUsers(nodeId);
                entry.Epoch = epoch;
            }
            return true;
        }
        entry = new NodeEntry { Epoch = epoch };
        _usersByNode[nodeId] = entry;
        return true;
    }

    private void ForgetUsers(string nodeId)
    {
        if (!_usersByNode.TryGetValue(nodeId, out var entry))
        {
            return;
        }
        foreach (var user in entry.Users)
        {
            RemoveUserNode(user, nodeId);
        }
        entry.Users.Clear();
    }

    private void RemoveUserNode(string user, string nodeId)
    {
        if (!_nodesByUser.TryGetValue(user, out var nodes))
        {
            return;
        }
        var remaining = nodes.Where(n => n != nodeId).ToArray();
        if (remaining.Length == 0)
        {
            _nodesByUser.TryRemove(user, out _);
        }
        else
        {
            _nodesByUser[user] = remaining;
        }
    }

    private sealed class NodeEntry
    {
        public long Epoch;
        public HashSet<string> Users { get; } = new(StringComparer.Ordinal);
    }
}
