using Switchboard.Protocol;

namespace Switchboard.Node.Hubs;

/// <summary>
/// The keyed messages this node delivered lately, by id and target. A send carried out twice (a failover proxy or a
/// client sending again what a lost connection left unanswered) has one id, from its sender's idempotency key
/// (<see cref="RoutedMessage.IdForKey"/>), so its second copy reaches this node's recipients not at all, whichever node
/// each copy came through. Messages without a key are never held here. Bounded by count, oldest first out.
/// </summary>
/// <remarks>
/// The target is part of what is remembered because a node legitimately hands one message to itself twice with other
/// targets: a moved session's traffic comes back forwarded to its connection (<see cref="RoutedMessage.WithTarget"/>).
/// </remarks>
internal sealed class RepeatFilter(int capacity)
{
    private readonly Lock _lock = new();
    private readonly HashSet<(long Id, Target Target)> _seen = [];
    private readonly Queue<(long Id, Target Target)> _order = new();

    /// <summary>Keyed messages remembered now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _seen.Count;
            }
        }
    }

    /// <summary>False when this keyed message already went to these recipients here (drop the copy); true otherwise.</summary>
    public bool FirstTime(RoutedMessage message)
    {
        // Nodes give positive ids; only a key's id is negative.
        if (message.Id >= 0 || capacity == 0)
        {
            return true;
        }
        var entry = (message.Id, message.Target);
        lock (_lock)
        {
            if (!_seen.Add(entry))
            {
                return false;
            }
            // Out before in, so the queue never holds more than the capacity (and never doubles past it).
            if (_order.Count == capacity)
            {
                _seen.Remove(_order.Dequeue());
            }
            _order.Enqueue(entry);
            return true;
        }
    }
}
