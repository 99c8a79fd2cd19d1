namespace Switchboard.Bench.Measurement;

/// <summary>
/// A log-linear histogram of non-negative values (microseconds in the bench): values below
/// <see cref="SubBuckets"/> are counted exactly; above, each power of two is split into <see cref="SubBuckets"/>/2 equal
/// buckets, so every recorded value is known to within 1/<see cref="SubBuckets"/> × 2 of itself (3.1% with 64).
/// Recording is lock-free and safe from any thread; histograms merge by adding counts.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Linear buckets per power of two (the precision).</summary>
    public const int SubBuckets = 64;

    private const int SubBucketBits = 6; // log2(SubBuckets)
    private const int HalfBuckets = SubBuckets / 2;
    private const int Magnitudes = 64 - SubBucketBits + 1;

    private readonly long[] _counts = new long[SubBuckets + (Magnitudes * HalfBuckets)];
    private long _count;
    private long _max;
    private long _min = long.MaxValue;
    private long _sum;

    /// <summary>Values recorded.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The largest value recorded (exact), 0 when empty.</summary>
    public long Max => Interlocked.Read(ref _max);

    /// <summary>The smallest value recorded (exact), 0 when empty.</summary>
    public long Min => Count == 0 ? 0 : Interlocked.Read(ref _min);

    /// <summary>The mean of the values recorded, 0 when empty.</summary>
    public double Mean => Count == 0 ? 0 : (double)Interlocked.Read(ref _sum) / Count;

    /// <summary>Records one value; negative values count as 0.</summary>
    public void Record(long value)
    {
        if (value < 0)
        {
            value = 0;
        }
        Interlocked.Increment(ref _counts[IndexOf(value)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, value);
        UpdateMax(value);
        UpdateMin(value);
    }

    /// <summary>
    /// The value at or below which <paramref name="percentile"/>% of the recorded values lie (the upper edge of its
    /// bucket, never above <see cref="Max"/>); 0 when empty.
    /// </summary>
    public long ValueAtPercentile(double percentile)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(percentile);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percentile, 100);
        var count = Count;
        if (count == 0)
        {
            return 0;
        }
        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return Math.Min(UpperEdgeOf(i), Max);
            }
        }
        return Max;
    }

    /// <summary>Adds every value of <paramref name="other"/> to this histogram.</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            var c = Interlocked.Read(ref other._counts[i]);
            if (c != 0)
            {
                Interlocked.Add(ref _counts[i], c);
            }
        }
        Interlocked.Add(ref _count, other.Count);
        Interlocked.Add(ref _sum, Interlocked.Read(ref other._sum));
        if (other.Count > 0)
        {
            UpdateMax(other.Max);
            UpdateMin(other.Min);
        }
    }

    /// <summary>The non-empty buckets as (index, count) pairs, with the exact min, max and sum: what crosses process boundaries.</summary>
    public HistogramSnapshot ToSnapshot()
    {
        var buckets = new List<long[]>();
        for (var i = 0; i < _counts.Length; i++)
        {
            var c = Interlocked.Read(ref _counts[i]);
            if (c != 0)
            {
                buckets.Add([i, c]);
            }
        }
        return new HistogramSnapshot(buckets, Count == 0 ? 0 : Min, Max, Interlocked.Read(ref _sum));
    }

    /// <summary>Rebuilds a histogram from <see cref="ToSnapshot"/>.</summary>
    public static LatencyHistogram FromSnapshot(HistogramSnapshot snapshot)
    {
        var histogram = new LatencyHistogram();
        foreach (var bucket in snapshot.Buckets)
        {
            if (bucket.Length != 2 || bucket[0] < 0 || bucket[0] >= histogram._counts.Length || bucket[1] < 0)
            {
                throw new FormatException("A histogram bucket must be [index, count] with a valid index and a non-negative count.");
            }
            histogram._counts[bucket[0]] += bucket[1];
            histogram._count += bucket[1];
        }
        if (histogram._count > 0)
        {
            histogram._min = snapshot.Min;
            histogram._max = snapshot.Max;
            histogram._sum = snapshot.Sum;
        }
        return histogram;
    }

    internal static int IndexOf(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }
        // The magnitude is how many bits the value has past the sub-bucket precision; the top SubBucketBits bits
        // (whose first is always 1) pick the linear bucket inside it.
        var magnitude = 64 - long.LeadingZeroCount(value) - SubBucketBits;
        var sub = (int)(value >> (int)magnitude) - HalfBuckets;
        return SubBuckets + ((int)(magnitude - 1) * HalfBuckets) + sub;
    }

    internal static long UpperEdgeOf(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }
        var magnitude = ((index - SubBuckets) / HalfBuckets) + 1;
        var sub = ((index - SubBuckets) % HalfBuckets) + HalfBuckets;
        return ((long)(sub + 1) << magnitude) - 1;
    }

    private void UpdateMax(long value)
    {
        var current = Interlocked.Read(ref _max);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref _max, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    private void UpdateMin(long value)
    {
        var current = Interlocked.Read(ref _min);
        while (value < current)
        {
            var seen = Interlocked.CompareExchange(ref _min, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }
}

/// <summary>A histogram's non-empty buckets (<c>[index, count]</c>), exact min, max and sum.</summary>
public sealed record HistogramSnapshot(IReadOnlyList<long[]> Buckets, long Min, long Max, long Sum);
