using Switchboard.Node.Connections;

namespace Switchboard.Node.Hubs;

/// <summary>
/// The connections of one user or one group on this node. Copy-on-write: senders iterate a snapshot
/// without locking; joins and leaves (rarer than sends) copy the array.
/// </summary>
internal sealed class ConnectionSet
{
    private ClientConnection[] _members = [];

    public ClientConnection[] Snapshot => Volatile.Read(ref _members);

    public int Count => Snapshot.Length;

    /// <summary>Adds a member; returns true when it was the first. Callers serialize writes.</summary>
    public bool Add(ClientConnection connection)
    {
        var current = _members;
        if (Array.IndexOf(current, connection) >= 0)
        {
            return false;
        }
        Volatile.Write(ref _members, [.. current, connection]);
        return current.Length == 0;
    }

    /// <summary>Removes a member; returns true when the set is now empty. Callers serialize writes.</summary>
    public bool Remove(ClientConnection connection)
    {
        var current = _members;
        var index = Array.IndexOf(current, connection);
        if (index < 0)
        {
            return false;
        }
        var next = new ClientConnection[current.Length - 1];
        Array.Copy(current, 0, next, 0, index);
        Array.Copy(current, index + 1, next, index, current.Length - index - 1);
        Volatile.Write(ref _members, next);
        return next.Length == 0;
    }
}
