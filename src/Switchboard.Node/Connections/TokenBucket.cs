namespace Switchboard.Node.Connections;

/// <summary>
/// A token bucket on a monotonic clock. Not thread-safe: each connection's receive loop owns its buckets. The rate
/// and burst are passed to every call rather than stored: they are the node's settings, and a copy in each of a
/// connection's two buckets would cost 16 bytes per bucket per connection.
/// </summary>
internal struct TokenBucket(int burst, long startTimestamp)
{
    private double _tokens = burst;
    private long _last = startTimestamp;

    /// <summary>Takes one token; false when the bucket is empty.</summary>
    public bool TryTake(double perSecond, int burst, TimeProvider time)
    {
        var now = time.GetTimestamp();
        var elapsed = (double)(now - _last) / time.TimestampFrequency;
        _last = now;
        _tokens = Math.Min(burst, _tokens + elapsed * perSecond);
        if (_tokens < 1)
        {
            return false;
        }
        _tokens -= 1;
        return true;
    }
}
