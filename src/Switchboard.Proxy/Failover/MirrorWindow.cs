namespace Switchboard.Proxy.Failover;

/// <summary>
/// Matches a failover client's two streams by message id: the primary node's, which the client gets, and the standby
/// node's, which both receive every message for the user. It remembers the ids the client was given and holds the
/// standby's copies the primary has not delivered yet; when the primary is lost, those are exactly what the client
/// still needs, in the standby's order. Both sides are bounded by <c>capacity</c> (oldest first out).
/// </summary>
internal sealed class MirrorWindow(int capacity)
{
    private readonly Lock _lock = new();
    private readonly HashSet<long> _delivered = [];
    private readonly Queue<long> _deliveredOrder = new();
    private readonly LinkedList<(long Id, byte[] Frame)> _pending = new();
    private readonly Dictionary<long, LinkedListNode<(long Id, byte[] Frame)>> _pendingById = [];

    /// <summary>Copies of the standby's held now.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Records that the client gets message <paramref name="id"/>; false when it already has (drop the copy).</summary>
    public bool Deliver(long id)
    {
        lock (_lock)
        {
            if (!_delivered.Add(id))
            {
                return false;
            }
            _deliveredOrder.Enqueue(id);
            if (_deliveredOrder.Count > capacity)
            {
                _delivered.Remove(_deliveredOrder.Dequeue());
            }
            if (_pendingById.Remove(id, out var node))
            {
                _pending.Remove(node);
            }
            return true;
        }
    }

    /// <summary>The standby received message <paramref name="id"/>: held unless the client already has it.</summary>
    public void Standby(long id, byte[] frame)
    {
        lock (_lock)
        {
            if (_delivered.Contains(id) || _pendingById.ContainsKey(id))
            {
                return;
            }
            _pendingById[id] = _pending.AddLast((id, frame));
            if (_pending.Count > capacity)
            {
                _pendingById.Remove(_pending.First!.Value.Id);
                _pending.RemoveFirst();
            }
        }
    }

    /// <summary>The standby becomes the primary: its held copies, in arrival order, now count as delivered.</summary>
    public List<byte[]> TakePending()
    {
        lock (_lock)
        {
            var frames = new List<byte[]>(_pending.Count);
            foreach (var (id, frame) in _pending)
            {
                frames.Add(frame);
                if (_delivered.Add(id))
                {
                    _deliveredOrder.Enqueue(id);
                }
            }
            _pending.Clear();
            _pendingById.Clear();
            while (_deliveredOrder.Count > capacity)
            {
                _delivered.Remove(_deliveredOrder.Dequeue());
            }
            return frames;
        }
    }
}
