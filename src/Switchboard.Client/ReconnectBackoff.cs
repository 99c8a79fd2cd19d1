namespace Switchboard.Client;

/// <summary>
/// Full-jitter exponential backoff: the delay before attempt <c>n</c> (from 0) is uniform in
/// <c>[0, min(max, base·2^n)]</c>, so a node's clients that all lose it at once spread their reconnects.
/// </summary>
internal sealed class ReconnectBackoff
{
    private readonly TimeSpan _base;
    private readonly TimeSpan _max;
    private readonly Random _random;
    private readonly bool _randomIsShared;

    public ReconnectBackoff(TimeSpan baseDelay, TimeSpan maxDelay, Random? random)
    {
        _base = baseDelay;
        _max = maxDelay;
        _random = random ?? Random.Shared;
        _randomIsShared = random is null;
    }

    /// <summary>The upper bound of the delay before attempt <paramref name="attempt"/>: <c>min(max, base·2^attempt)</c>.</summary>
    public static TimeSpan Cap(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        if (attempt < 0)
        {
            attempt = 0;
        }
        // Past 2^62 the product overflows; by then the cap has long been reached.
        if (attempt >= 62)
        {
            return maxDelay;
        }
        var ticks = (double)baseDelay.Ticks * Math.Pow(2, attempt);
        return ticks >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>A random delay in <c>[0, Cap(attempt)]</c>.</summary>
    public TimeSpan Next(int attempt)
    {
        var cap = Cap(attempt, _base, _max);
        double sample;
        if (_randomIsShared)
        {
            sample = _random.NextDouble();
        }
        else
        {
            // A caller's Random is not thread-safe.
            lock (_random)
            {
                sample = _random.NextDouble();
            }
        }
        return TimeSpan.FromTicks((long)(cap.Ticks * sample));
    }
}
