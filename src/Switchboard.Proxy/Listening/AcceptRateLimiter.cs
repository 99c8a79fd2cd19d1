namespace Switchboard.Proxy.Listening;

/// <summary>
/// A token bucket for accepts: up to <c>rate</c> per second with a burst of one second's worth, and of at least one (a
/// rate below 1/s would otherwise never fill the bucket to a whole token, and no one would get in). Past it the accept loop
/// waits, and new clients queue in the kernel's backlog rather than being refused.
/// </summary>
internal sealed class AcceptRateLimiter(TimeProvider time)
{
    private double _tokens = double.NaN;
    private long _last = time.GetTimestamp();

    /// <summary>How long to wait before the next accept at <paramref name="ratePerSecond"/> (0: no limit); takes a token when it is zero.</summary>
    public TimeSpan TakeOrWait(double ratePerSecond)
    {
        if (ratePerSecond <= 0)
        {
            return TimeSpan.Zero;
        }
        var now = time.GetTimestamp();
        var elapsed = time.GetElapsedTime(_last, now).TotalSeconds;
        _last = now;
        var burst = Burst(ratePerSecond);
        _tokens = double.IsNaN(_tokens) ? burst : Math.Min(burst, _tokens + elapsed * ratePerSecond);
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return TimeSpan.Zero;
        }
        return TimeSpan.FromSeconds((1 - _tokens) / ratePerSecond);
    }

    /// <summary>Gives back the token the last <see cref="TakeOrWait"/> took: the accept it paid for failed, and no client came in.</summary>
    public void Refund(double ratePerSecond)
    {
        if (ratePerSecond > 0 && !double.IsNaN(_tokens))
        {
            _tokens = Math.Min(Burst(ratePerSecond), _tokens + 1);
        }
    }

    private static double Burst(double ratePerSecond) => Math.Max(1, ratePerSecond);
}
