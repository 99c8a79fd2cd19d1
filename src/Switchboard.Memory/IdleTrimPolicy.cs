namespace Switchboard.Memory;

/// <summary>
/// Decides when an idle trim is due, from one sample a second of the connection count and the bytes allocated so far.
/// Due when all of these hold: the count has moved by at least <see cref="IdleTrimSettings.MinConnectionChange"/>
/// since the last trim (a burst happened); over the last <see cref="IdleTrimSettings.SettleTime"/> it moved by at
/// most a tenth of that and the process allocated at most <see cref="IdleTrimSettings.MaxAllocationRate"/> on
/// average (the burst has settled); and the last trim is <see cref="IdleTrimSettings.MinInterval"/> ago or more.
/// So a busy process is not trimmed (it collects on its own), and an idle one is trimmed once per burst, not again
/// and again while nothing changes.
/// </summary>
public sealed class IdleTrimPolicy(IdleTrimSettings options, TimeProvider time)
{
    private readonly List<Sample> _window = [];
    private readonly int _flatTolerance = options.MinConnectionChange / 10;
    // A process starts with no connections: the first burst counts from zero, even one that came before the first sample.
    private int _reference;
    private long? _lastTrim;

    /// <summary>
    /// Takes a sample; true when a trim is due now. The caller then trims: the policy counts it as done, and the next
    /// trim needs another burst.
    /// </summary>
    public bool Observe(int connections, long allocatedBytes)
    {
        var now = time.GetTimestamp();
        _window.Add(new Sample(now, connections, allocatedBytes));
        // The window starts at the newest sample that is at least the settle time old.
        while (_window.Count > 1 && time.GetElapsedTime(_window[1].Timestamp, now) >= options.SettleTime)
        {
            _window.RemoveAt(0);
        }

        var oldest = _window[0];
        var span = time.GetElapsedTime(oldest.Timestamp, now);
        if (span < options.SettleTime)
        {
            return false;
        }
        if (Math.Abs(connections - _reference) < options.MinConnectionChange)
        {
            return false;
        }
        if (_lastTrim is { } last && time.GetElapsedTime(last, now) < options.MinInterval)
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
        // an otherwise idle process from settling.
        if ((allocatedBytes - oldest.AllocatedBytes) / span.TotalSeconds > options.MaxAllocationRate)
        {
            return false;
        }
        _reference = connections;
        _lastTrim = now;
        return true;
    }

    private readonly record struct Sample(long Timestamp, int Connections, long AllocatedBytes);
}
