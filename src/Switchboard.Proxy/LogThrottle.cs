namespace Switchboard.Proxy;

/// <summary>
/// Lets one log line through per interval for a condition that can repeat thousands of times a second (a proxy out
/// of file descriptors fails every dial and every accept), and counts the ones held back in between.
/// </summary>
internal sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private long _next = long.MinValue;
    private long _held;

    /// <summary>True when this occurrence should be logged; <paramref name="held"/> is how many were not since the last one that was.</summary>
    public bool ShouldLog(out long held)
    {
        var now = time.GetTimestamp();
        var next = Interlocked.Read(ref _next);
        if (now >= next && Interlocked.CompareExchange(ref _next, now + (long)(interval.TotalSeconds * time.TimestampFrequency), next) == next)
        {
            held = Interlocked.Exchange(ref _held, 0);
            return true;
        }
        Interlocked.Increment(ref _held);
        held = 0;
        return false;
    }
}
