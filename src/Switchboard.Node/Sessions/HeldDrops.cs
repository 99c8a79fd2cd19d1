namespace Switchboard.Node.Sessions;

/// <summary>
/// The messages let go while held for a resume (past what a session keeps), bounded however long the take: the ids of
/// the last <c>capacity</c> distinct ones, to tell at the end which reached the session another way (replayed, or a
/// copy still held), and a count of those older, which are counted lost unchecked. Not thread-safe.
/// </summary>
internal sealed class HeldDrops(int capacity)
{
    private readonly HashSet<long> _ids = [];
    private readonly Queue<long> _order = new();
    private int _unchecked;

    /// <summary>Ids remembered now (at most the capacity).</summary>
    public int Tracked => _ids.Count;

    /// <summary>Records a message let go; a repeat of one still remembered counts once.</summary>
    public void Add(long id)
    {
        if (!_ids.Add(id))
        {
            return;
        }
        if (_order.Count == capacity)
        {
            _ids.Remove(_order.Dequeue());
            _unchecked++;
        }
        _order.Enqueue(id);
    }

    /// <summary>How many were lost: those remembered that did not reach the session otherwise, plus every older one.</summary>
    public int Lost(Func<long, bool> reachedOtherwise) => _unchecked + _order.Count(id => !reachedOtherwise(id));
}
