namespace Switchboard.Client.Tests;

public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(10);

    [Fact]
    public void Cap_DoublesFromBasePerAttempt_UntilMax()
    {
        ReconnectBackoff.Cap(0, Base, Max).ShouldBe(TimeSpan.FromMilliseconds(100));
        ReconnectBackoff.Cap(1, Base, Max).ShouldBe(TimeSpan.FromMilliseconds(200));
        ReconnectBackoff.Cap(2, Base, Max).ShouldBe(TimeSpan.FromMilliseconds(400));
        ReconnectBackoff.Cap(6, Base, Max).ShouldBe(TimeSpan.FromMilliseconds(6400));
        ReconnectBackoff.Cap(7, Base, Max).ShouldBe(Max);
        ReconnectBackoff.Cap(8, Base, Max).ShouldBe(Max);
    }

    [Theory]
    [InlineData(62)]
    [InlineData(63)]
    [InlineData(1000)]
    [InlineData(int.MaxValue)]
    public void Cap_HugeAttempt_StaysAtMaxWithoutOverflow(int attempt)
    {
        ReconnectBackoff.Cap(attempt, Base, Max).ShouldBe(Max);
    }

    [Fact]
    public void Cap_NegativeAttempt_IsTheBase()
    {
        ReconnectBackoff.Cap(-5, Base, Max).ShouldBe(Base);
    }

    [Fact]
    public void Next_AlwaysWithinZeroAndCap()
    {
        var backoff = new ReconnectBackoff(Base, Max, new Random(42));
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var cap = ReconnectBackoff.Cap(attempt, Base, Max);
            for (var i = 0; i < 500; i++)
            {
                var delay = backoff.Next(attempt);
                delay.ShouldBeGreaterThanOrEqualTo(TimeSpan.Zero);
                delay.ShouldBeLessThanOrEqualTo(cap);
            }
        }
    }

    [Fact]
    public void Next_IsFullJitter_SpreadOverTheWholeRange()
    {
        var backoff = new ReconnectBackoff(Base, Max, new Random(7));
        var samples = Enumerable.Range(0, 2000).Select(_ => backoff.Next(10)).ToList();
        samples.Min().ShouldBeLessThan(TimeSpan.FromSeconds(0.5));
        samples.Max().ShouldBeGreaterThan(TimeSpan.FromSeconds(9.5));
        TimeSpan.FromTicks((long)samples.Average(s => s.Ticks)).ShouldBeInRange(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public void Next_GrowsWithTheAttempt()
    {
        // With the random at its top, the delay is the cap itself: it grows, then levels off at the max.
        var backoff = new ReconnectBackoff(Base, Max, new FixedRandom(0.999999));
        var delays = Enumerable.Range(0, 10).Select(backoff.Next).ToList();
        for (var i = 1; i < delays.Count; i++)
        {
            delays[i].ShouldBeGreaterThanOrEqualTo(delays[i - 1]);
        }
        delays[0].ShouldBeLessThanOrEqualTo(Base);
        delays[^1].ShouldBeInRange(Max - TimeSpan.FromMilliseconds(1), Max);
    }

    [Fact]
    public void Next_RandomAtZero_RetriesAtOnce()
    {
        var backoff = new ReconnectBackoff(Base, Max, new FixedRandom(0));
        backoff.Next(5).ShouldBe(TimeSpan.Zero);
    }

    [Fact]
    public void Next_WithSharedRandom_IsSafeFromManyThreads()
    {
        var backoff = new ReconnectBackoff(Base, Max, new Random(1));
        Parallel.For(0, 10_000, i => backoff.Next(i % 12).ShouldBeInRange(TimeSpan.Zero, Max));
    }

    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;

        protected override double Sample() => value;
    }
}
