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
    private readonly RecentSet<(long Id, Target Target)> _seen = new(capacity);

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
        lock (_lock)
        {
            return _seen.Add((message.Id, message.Target));
        }
    }
}
