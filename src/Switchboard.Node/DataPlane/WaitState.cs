namespace Switchboard.Node.DataPlane;

/// <summary>
/// One direction of a socket's waits on the reactor, in one word that <see cref="Interlocked"/> changes whole: the
/// phase in the low two bits (<see cref="Idle"/>, <see cref="Ready"/>: an edge came while nobody waited, or <see
/// cref="Waiting"/>) and above them the number of the wait, so that whoever ends a wait (the reactor, a cancellation, a
/// close) ends that wait and never a later one.
/// </summary>
internal static class WaitState
{
    public const int Idle = 0;
    public const int Ready = 1;
    public const int Waiting = 2;

    private const int PhaseBits = 3;

    public static int Phase(int word) => word & PhaseBits;

    /// <summary>The same wait's word, <see cref="Idle"/>.</summary>
    public static int Idled(int word) => word & ~PhaseBits;

    /// <summary>The word a wait published on <paramref name="idle"/> would have: the next number, <see cref="Waiting"/>.</summary>
    public static int NextWait(int idle) => (int)(((uint)idle & ~(uint)PhaseBits) + (PhaseBits + 1)) | Waiting;

    /// <summary>Takes an edge that came while nobody waited; true when there was one (try the socket again).</summary>
    public static bool TryConsumeReady(ref int state)
    {
        var word = Volatile.Read(ref state);
        return Phase(word) == Ready && Interlocked.CompareExchange(ref state, Idled(word), word) == word;
    }

    /// <summary>Ends the wait <paramref name="waiting"/> if it is still on; true for the one caller that ended it.</summary>
    public static bool TryEnd(ref int state, int waiting) =>
        Interlocked.CompareExchange(ref state, Idled(waiting), waiting) == waiting;

    /// <summary>Ends whatever wait is on; true (with its word) for the one caller that ended it.</summary>
    public static bool TryEndAny(ref int state, out int ended)
    {
        ended = Volatile.Read(ref state);
        return Phase(ended) == Waiting && TryEnd(ref state, ended);
    }

    /// <summary>An edge: true when it ended a wait (which the caller then finishes), otherwise the direction is marked ready.</summary>
    public static bool Signal(ref int state)
    {
        while (true)
        {
            var word = Volatile.Read(ref state);
            switch (Phase(word))
            {
                case Ready:
                    return false;
                case Waiting:
                    if (TryEnd(ref state, word))
                    {
                        return true;
                    }
                    break;
                default:
                    if (Interlocked.CompareExchange(ref state, word | Ready, word) == word)
                    {
                        return false;
                    }
                    break;
            }
        }
    }
}
