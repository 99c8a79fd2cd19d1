using Switchboard.Protocol;

namespace Switchboard.Node.Sessions;

/// <summary>
/// Keeps per-sender order for a session that was just taken from another node. For a while after the take, a
/// message for the session reaches this node on two paths: directly from its origin node, and forwarded by the old
/// node (senders whose directory still names the old node send there, and once they also know this node, to both).
/// The forwarded path is one hop longer, so a direct message could overtake an older one still being forwarded.
/// The fence holds direct messages, per origin node in arrival order, until their forwarded copy arrives — then
/// everything the origin sent before it has been forwarded too — or until the old node has stopped forwarding.
/// </summary>
/// <remarks>Not thread-safe: the connection calls it under its enqueue lock.</remarks>
internal sealed class HandOverFence(string connectionId, long endsAt, int capacity)
{
    private readonly Dictionary<string, List<RoutedMessage>> _held = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>True once the old node has stopped forwarding (its time is up), so nothing needs holding any more.</summary>
    public bool HasEnded(long now) => now >= endsAt;

    /// <summary>
    /// Takes an arriving message and returns, in order, what may be delivered now: nothing while a direct message is
    /// held; for a forwarded one, the held messages its origin sent before it, then the message itself.
    /// </summary>
    /// <param name="message">The arriving message.</param>
    /// <param name="delivered">Whether a copy of a message id was already delivered (a direct copy then is dropped).</param>
    /// <param name="overflow">Set when holding it would pass the capacity: the caller should release everything.</param>
    public IReadOnlyList<RoutedMessage> Admit(RoutedMessage message, Func<long, bool> delivered, out bool overflow)
    {
        overflow = false;
        var origin = message.OriginNodeId ?? string.Empty;
        if (IsForwarded(message))
        {
            if (!_held.TryGetValue(origin, out var queue))
            {
                return [message];
            }
            var copy = queue.FindIndex(m => m.Id == message.Id);
            if (copy < 0)
            {
                return [message];
            }
            // Held messages older than the copy were not sent to the old node (their copies would have come first).
            var ready = queue.GetRange(0, copy);
            ready.Add(message);
            queue.RemoveRange(0, copy + 1);
            _count -= copy + 1;
            return ready;
        }
        if (delivered(message.Id))
        {
            return [];
        }
        if (!_held.TryGetValue(origin, out var held))
        {
            _held[origin] = held = [];
        }
        held.Add(message);
        overflow = ++_count > capacity;
        return [];
    }

    /// <summary>Everything held, each origin's messages in arrival order; the fence is empty afterwards.</summary>
    public List<RoutedMessage> Release()
    {
        var all = _held.Values.SelectMany(q => q).ToList();
        _held.Clear();
        _count = 0;
        return all;
    }

    // The old node forwards with the session's new connection as the target; direct traffic names the user, a group or all.
    private bool IsForwarded(RoutedMessage message) =>
        message.Target.Kind == TargetKind.Connection && string.Equals(message.Target.Name, connectionId, StringComparison.Ordinal);
}
