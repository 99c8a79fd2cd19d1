using System.Collections.Concurrent;
using Switchboard.Node.Connections;
using Switchboard.Protocol;

namespace Switchboard.Node.Hubs;

/// <summary>
/// The connections this node holds, by connection id, by user and by group. Delivery reads lock-free
/// snapshots; membership changes are serialized by the node (<see cref="SwitchboardNode"/>), which also
/// keeps the backplane's presence and group subscriptions in step with them.
/// </summary>
public sealed class Hub
{
    private readonly ConcurrentDictionary<string, ClientConnection> _connections = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConnectionSet> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConnectionSet> _groups = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private readonly RepeatFilter _repeats;
    private int _reserved;

    /// <summary>
    /// Creates a hub that holds at most <paramref name="capacity"/> connections and remembers the last
    /// <paramref name="repeatWindow"/> keyed messages it delivered, to drop their repeats (0: none).
    /// </summary>
    public Hub(int capacity, int repeatWindow = 0)
    {
        _capacity = capacity;
        _repeats = new RepeatFilter(repeatWindow);
    }

    /// <summary>Keyed messages remembered now, whose repeats this hub drops.</summary>
    public int RememberedKeyedMessages => _repeats.Count;

    /// <summary>Repeats of keyed messages dropped so far (a send carried out twice reached this node twice).</summary>
    public long RepeatsDropped => Interlocked.Read(ref _repeatsDropped);

    /// <summary>Called for each repeat dropped (the node counts it in its metrics).</summary>
    internal Action? RepeatDropped { get; set; }

    private long _repeatsDropped;

    /// <summary>Connections held now.</summary>
    public int Count => _connections.Count;

    /// <summary>Connection slots taken, including connections still completing their handshake.</summary>
    public int Reserved => Volatile.Read(ref _reserved);

    /// <summary>Distinct users held now.</summary>
    public int UserCount => _users.Count;

    /// <summary>
    /// The distinct users held now, in one array. Enumerated rather than through the dictionary's <c>Keys</c>, which
    /// takes every lock and copies the keys into a list first: at 15,000 users that is a second large-object array per
    /// presence snapshot, garbage only a full collection sweeps.
    /// </summary>
    public string[] UserIds()
    {
        var ids = new string[_users.Count];
        var count = 0;
        foreach (var user in _users)
        {
            if (count == ids.Length)
            {
                // Users came during the walk (callers that change the hub under a lock never see this).
                Array.Resize(ref ids, Math.Max(4, ids.Length * 2));
            }
            ids[count++] = user.Key;
        }
        if (count != ids.Length)
        {
            Array.Resize(ref ids, count);
        }
        return ids;
    }

    /// <summary>Local members of a group.</summary>
    public int GroupMemberCount(string group) => _groups.TryGetValue(group, out var set) ? set.Count : 0;

    /// <summary>Connections of a user on this node.</summary>
    public int UserConnectionCount(string userId) => _users.TryGetValue(userId, out var set) ? set.Count : 0;

    /// <summary>Takes a connection slot; false when the node is full.</summary>
    public bool TryReserve()
    {
        while (true)
        {
            var current = Volatile.Read(ref _reserved);
            if (current >= _capacity)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _reserved, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Gives back a slot taken by <see cref="TryReserve"/>.</summary>
    public void Release() => Interlocked.Decrement(ref _reserved);

    /// <summary>Finds a connection by id.</summary>
    public bool TryGet(string connectionId, out ClientConnection connection) => _connections.TryGetValue(connectionId, out connection!);

    /// <summary>Every connection held now.</summary>
    public IEnumerable<ClientConnection> Connections => _connections.Values;

    internal bool Add(ClientConnection connection)
    {
        _connections[connection.Id] = connection;
        return _users.GetOrAdd(connection.UserId, static _ => new ConnectionSet()).Add(connection);
    }

    /// <summary>Removes a connection and its group memberships; reports whether it was its user's last and which groups emptied.</summary>
    internal (bool Removed, bool LastOfUser, List<string> EmptiedGroups) Remove(ClientConnection connection)
    {
        var emptied = new List<string>();
        if (!_connections.TryRemove(new KeyValuePair<string, ClientConnection>(connection.Id, connection)))
        {
            return (false, false, emptied);
        }
        foreach (var group in connection.Groups)
        {
            if (Leave(connection, group))
            {
                emptied.Add(group);
            }
        }
        connection.Groups.Clear();
        var last = _users.TryGetValue(connection.UserId, out var set) && set.Remove(connection);
        if (last)
        {
            _users.TryRemove(new KeyValuePair<string, ConnectionSet>(connection.UserId, set!));
        }
        return (true, last, emptied);
    }

    /// <summary>Adds a connection to a group; true when it is the group's first member here.</summary>
    internal bool Join(ClientConnection connection, string group)
    {
        connection.Groups.Add(group);
        return _groups.GetOrAdd(group, static _ => new ConnectionSet()).Add(connection);
    }

    /// <summary>Removes a connection from a group; true when it was the group's last member here.</summary>
    internal bool Leave(ClientConnection connection, string group)
    {
        connection.Groups.Remove(group);
        if (!_groups.TryGetValue(group, out var set) || !set.Remove(connection))
        {
            return false;
        }
        _groups.TryRemove(new KeyValuePair<string, ConnectionSet>(group, set));
        return true;
    }

    /// <summary>
    /// Hands a message to every local recipient's send queue; returns how many took it. A repeat of a keyed message
    /// already handed to the same recipients here goes to none.
    /// </summary>
    public int Deliver(RoutedMessage message)
    {
        if (!_repeats.FirstTime(message))
        {
            Interlocked.Increment(ref _repeatsDropped);
            RepeatDropped?.Invoke();
            return 0;
        }
        switch (message.Target.Kind)
        {
            case TargetKind.User:
                return _users.TryGetValue(message.Target.Name, out var user) ? DeliverTo(user.Snapshot, message) : 0;
            case TargetKind.Group:
                return _groups.TryGetValue(message.Target.Name, out var group) ? DeliverTo(group.Snapshot, message) : 0;
            case TargetKind.Connection:
                return _connections.TryGetValue(message.Target.Name, out var connection) && connection.TryEnqueue(message) ? 1 : 0;
            default:
                var delivered = 0;
                foreach (var (_, each) in _connections)
                {
                    delivered += each.TryEnqueue(message) ? 1 : 0;
                }
                return delivered;
        }
    }

    private static int DeliverTo(ClientConnection[] recipients, RoutedMessage message)
    {
        var delivered = 0;
        foreach (var connection in recipients)
        {
            delivered += connection.TryEnqueue(message) ? 1 : 0;
        }
        return delivered;
    }
}
