using Switchboard.Bench.Measurement;

namespace Switchboard.Bench.Tests.Measurement;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Empty_ReportsZeroEverywhere()
    {
        var histogram = new LatencyHistogram();
        histogram.Count.ShouldBe(0);
        histogram.ValueAtPercentile(99).ShouldBe(0);
        histogram.Max.ShouldBe(0);
        histogram.Min.ShouldBe(0);
        histogram.Mean.ShouldBe(0);
    }

    [Fact]
    public void SmallValues_AreExact()
    {
        var histogram = new LatencyHistogram();
        for (var v = 0; v < LatencyHistogram.SubBuckets; v++)
        {
            histogram.Record(v);
        }
        histogram.ValueAtPercentile(50).ShouldBe(31);
        histogram.ValueAtPercentile(100).ShouldBe(63);
        histogram.Min.ShouldBe(0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    public void Percentiles_MatchSortedValues_WithinThePrecision(int seed)
    {
        var random = new Random(seed);
        var values = Enumerable.Range(0, 20_000).Select(_ => (long)Math.Exp(random.NextDouble() * 16)).ToArray();
        var histogram = new LatencyHistogram();
        foreach (var v in values)
        {
            histogram.Record(v);
        }
        Array.Sort(values);
        foreach (var p in new[] { 1.0, 50, 90, 99, 99.9, 100 })
        {
            var exact = values[Math.Max(0, (int)Math.Ceiling(p / 100 * values.Length) - 1)];
            var estimate = histogram.ValueAtPercentile(p);
            // The upper edge of the bucket: never below the exact value, at most one bucket width (2/64) above it.
            estimate.ShouldBeGreaterThanOrEqualTo(exact, $"p{p}");
            estimate.ShouldBeLessThanOrEqualTo(exact + Math.Max(1, exact * 2 / LatencyHistogram.SubBuckets), $"p{p}");
        }
        histogram.Max.ShouldBe(values[^1]);
        histogram.Min.ShouldBe(values[0]);
        histogram.Mean.ShouldBe(values.Average(), values.Average() * 1e-9);
    }

    [Fact]
    public void EveryValue_FallsInsideItsBucket()
    {
        foreach (var v in new long[] { 64, 65, 127, 128, 131, 132, 1000, 1 << 20, (1L << 40) + 12345, long.MaxValue })
        {
            var index = LatencyHistogram.IndexOf(v);
            LatencyHistogram.UpperEdgeOf(index).ShouldBeGreaterThanOrEqualTo(v);
            if (index > 0)
            {
                LatencyHistogram.UpperEdgeOf(index - 1).ShouldBeLessThan(v);
            }
        }
    }

    [Fact]
    public void Merge_EqualsRecordingEverythingInOne()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var all = new LatencyHistogram();
        var random = new Random(3);
        for (var i = 0; i < 5000; i++)
        {
            var v = random.NextInt64(0, 10_000_000);
            (i % 2 == 0 ? a : b).Record(v);
            all.Record(v);
        }
        a.Add(b);
        a.Count.ShouldBe(all.Count);
        a.Max.ShouldBe(all.Max);
        a.Min.ShouldBe(all.Min);
        foreach (var p in new[] { 50.0, 99, 99.9 })
        {
            a.ValueAtPercentile(p).ShouldBe(all.ValueAtPercentile(p));
        }
    }

    [Fact]
    public void Snapshot_RoundTrips_AndRejectsBadBuckets()
    {
        var histogram = new LatencyHistogram();
        foreach (var v in new long[] { 5, 500, 50_000, 5_000_000, -3 })
        {
            histogram.Record(v);
        }
        var copy = LatencyHistogram.FromSnapshot(histogram.ToSnapshot());
        copy.Count.ShouldBe(5);
        copy.Min.ShouldBe(0); // negative values count as 0
        copy.Max.ShouldBe(5_000_000);
        copy.ValueAtPercentile(60).ShouldBe(histogram.ValueAtPercentile(60));

        Should.Throw<FormatException>(() => LatencyHistogram.FromSnapshot(new HistogramSnapshot([[100_000, 1]], 0, 1, 1)));
        Should.Throw<FormatException>(() => LatencyHistogram.FromSnapshot(new HistogramSnapshot([[3, -1]], 0, 1, 1)));
        Should.Throw<ArgumentOutOfRangeException>(() => histogram.ValueAtPercentile(101));
    }

    [Fact]
    public async Task Record_FromManyThreads_LosesNothing()
    {
        var histogram = new LatencyHistogram();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                histogram.Record(t * 1000 + (i % 1000));
            }
        }))).WaitAsync(TimeSpan.FromSeconds(30));
        histogram.Count.ShouldBe(80_000);
        histogram.Max.ShouldBe(7999);
    }
}
