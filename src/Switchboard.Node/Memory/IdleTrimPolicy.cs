namespace Switchboard.Node.Memory;

/// <summary>
/// Decides when an idle trim is due, from one sample a second of the connection count and the bytes allocated so far.
/// Due when all of these hold: the count has moved by at least <see cref="NodeOptions.IdleTrimMinConnectionChange"/>
/// since the last trim (a burst happened); over the last <see cref="NodeOptions.IdleTrimSettleTime"/> it moved by at
/// most a tenth of that and the process allocated at most <see cref="NodeOptions.IdleTrimMaxAllocationRate"/> on
/// average (the burst has settled); and the last trim is <see cref="NodeOptions.IdleTrimMinInterval"/> ago or more.
/// So a busy node is not trimmed (it collects on its own), and an idle node is trimmed once per burst, not again and
/// again while nothing changes.
/// </summary>
internal sealed class IdleTrimPolicy(NodeOptions options, TimeProvider time)
{
    private readonly List<Sample> _window = [];
    private readonly int _flatTolerance = options.IdleTrimMinConnectionChange / 10;
    private int? _reference;
    private long? _lastTrim;

    /// <summary>
    /// Takes a sample; true when a trim is due now. The caller then trims: the policy counts it as done, and the next
    /// trim needs another burst.
    /// </summary>
    public bool Observe(int connections, long allocatedBytes)
    {
        var now = time.GetTimestamp();
        // The count the first burst is measured from: the node's own start, or whatever it held when trimming began.
        _reference ??= connections;
        _window.Add(new Sample(now, connections, allocatedBytes));
        // The window starts at the newest sample that is at least the settle time old.
        while (_window.Count > 1 && time.GetElapsedTime(_window[1].Timestamp, now) >= options.IdleTrimSettleTime)
        {
            _window.RemoveAt(0);
        }

        var oldest = _window[0];
        var span = time.GetElapsedTime(oldest.Timestamp, now);
        if (span < options.IdleTrimSettleTime)
        {
            return false;
        }
        if (Math.Abs(connections - _reference.Value) < options.IdleTrimMinConnectionChange)
        {
            return false;
        }
        if (_lastTrim is { } last && time.GetElapsedTime(last, now) < options.IdleTrimMinInterval)
        {
            return false;
        }
        var low = _window.Min(s => s.Connections);
        var high = _window.Max(s => s.Connections);
        if (high - low > _flatTolerance)
        {
            return false;
        }
        // Averaged over the window, so that a periodic spike (a presence snapshot, a round of keep-alives) does not keep
        // an otherwise idle node from settling.
        if ((allocatedBytes - oldest.AllocatedBytes) / span.TotalSeconds > options.IdleTrimMaxAllocationRate)
        {
            return false;
        }
        _reference = connections;
        _lastTrim = now;
        return true;
    }

    private readonly record struct Sample(long Timestamp, int Connections, long AllocatedBytes);
}
