using Switchboard.Protocol;

namespace Switchboard.Node.Sessions;

/// <summary>
/// The last messages of one session, with their seqs, so a client that reconnects can get what it missed. Bounded by
/// count, bytes and age (<see cref="NodeOptions.ReplayBufferMessages"/>, <see cref="NodeOptions.ReplayBufferBytes"/>,
/// <see cref="NodeOptions.ReplayBufferAge"/>): the oldest entries go first. Not thread-safe: its connection guards it.
/// </summary>
internal sealed class ReplayBuffer(int maxMessages, long maxBytes, TimeSpan maxAge, TimeProvider time)
{
    private readonly Queue<Entry> _entries = new();
    private long _bytes;

    public int Count => _entries.Count;

    public long Bytes => _bytes;

    /// <summary>Keeps a message just given <paramref name="seq"/>; drops the oldest past a limit.</summary>
    public void Add(long seq, RoutedMessage message)
    {
        _entries.Enqueue(new Entry(seq, message, time.GetTimestamp()));
        _bytes += message.FramePrefix.Length;
        while (_entries.Count > maxMessages || (_bytes > maxBytes && _entries.Count > 0))
        {
            Drop();
        }
    }

    /// <summary>Forgets everything up to and including <paramref name="seq"/> (the client acknowledged it).</summary>
    public void TrimThrough(long seq)
    {
        while (_entries.TryPeek(out var oldest) && oldest.Seq <= seq)
        {
            Drop();
        }
    }

    /// <summary>
    /// What a client that processed up to <paramref name="lastSeq"/> missed, given the session is at
    /// <paramref name="currentSeq"/>: the messages still held, and the range of seqs no longer held (if any).
    /// </summary>
    public ReplayWindow Since(long lastSeq, long currentSeq)
    {
        var now = time.GetTimestamp();
        while (_entries.TryPeek(out var oldest) && time.GetElapsedTime(oldest.Timestamp, now) > maxAge)
        {
            Drop();
        }
        var messages = new List<(long Seq, RoutedMessage Message)>();
        foreach (var entry in _entries)
        {
            if (entry.Seq > lastSeq)
            {
                messages.Add((entry.Seq, entry.Message));
            }
        }
        var firstHeld = messages.Count > 0 ? messages[0].Seq : currentSeq + 1;
        return firstHeld > lastSeq + 1
            ? new ReplayWindow(messages, lastSeq + 1, firstHeld - 1)
            : new ReplayWindow(messages, null, null);
    }

    private void Drop()
    {
        var dropped = _entries.Dequeue();
        _bytes -= dropped.Message.FramePrefix.Length;
    }

    private readonly record struct Entry(long Seq, RoutedMessage Message, long Timestamp);
}

/// <summary>What a resuming client gets: <see cref="Messages"/> in seq order, and the seqs lost for good, if any.</summary>
internal sealed record ReplayWindow(List<(long Seq, RoutedMessage Message)> Messages, long? MissedFrom, long? MissedTo);
