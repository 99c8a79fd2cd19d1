namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// Folds consecutive presence deltas of one node into one, so a burst of connects costs one control message per
/// coalescing window instead of one per user. Per user the last change wins: joined-then-left is sent as left
/// (an observer that never saw the join ignores it), left-then-joined as joined.
/// </summary>
internal sealed class PresenceMerger
{
    private readonly Dictionary<string, bool> _present = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    private string? _nodeId;
    private long _epoch;

    public bool IsEmpty => _nodeId is null;

    /// <summary>True when <paramref name="delta"/> can join the pending one (same node and epoch, not a snapshot).</summary>
    public bool CanMerge(PresenceDelta delta) =>
        !delta.IsSnapshot && (_nodeId is null || (_nodeId == delta.NodeId && _epoch == delta.Epoch));

    public void Add(PresenceDelta delta)
    {
        _nodeId = delta.NodeId;
        _epoch = delta.Epoch;
        foreach (var user in delta.Joined)
        {
            Set(user, present: true);
        }
        foreach (var user in delta.Left)
        {
            Set(user, present: false);
        }
    }

    /// <summary>The merged delta; the merger is empty afterwards.</summary>
    public PresenceDelta Take()
    {
        var joined = new List<string>();
        var left = new List<string>();
        foreach (var user in _order)
        {
            (_present[user] ? joined : left).Add(user);
        }
        var merged = new PresenceDelta(_nodeId!, _epoch, joined, left);
        _present.Clear();
        _order.Clear();
        _nodeId = null;
        return merged;
    }

    private void Set(string user, bool present)
    {
        if (_present.TryAdd(user, present))
        {
            _order.Add(user);
        }
        else
        {
            _present[user] = present;
        }
    }
}
