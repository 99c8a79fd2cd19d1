namespace Switchboard.Protocol;

/// <summary>
/// The last <c>capacity</c> distinct items seen, oldest first out: what drops a repeat of a message by its id. Not
/// thread-safe; a capacity of 0 remembers nothing.
/// </summary>
public sealed class RecentSet<T>(int capacity)
    where T : notnull
{
    private readonly HashSet<T> _seen = [];
    private readonly Queue<T> _order = new();

    /// <summary>Items remembered now.</summary>
    public int Count => _seen.Count;

    /// <summary>Remembers <paramref name="item"/>; false when it was among the last ones already (a repeat).</summary>
    public bool Add(T item)
    {
        if (capacity == 0)
        {
            return true;
        }
        if (!_seen.Add(item))
        {
            return false;
        }
        // Out before in, so the queue never holds more than the capacity (and never doubles past it).
        if (_order.Count == capacity)
        {
            _seen.Remove(_order.Dequeue());
        }
        _order.Enqueue(item);
        return true;
    }
}
