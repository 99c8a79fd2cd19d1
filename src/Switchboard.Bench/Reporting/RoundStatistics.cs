namespace Switchboard.Bench.Reporting;

/// <summary>
/// How a <c>--rounds</c> run sums up its rounds: a figure by its median over the rounds, a ratio between two paths by
/// the median of its ratios within each round.
/// </summary>
internal static class RoundStatistics
{
    /// <summary>The median of the values there are (nulls left out); the mean of the middle two for an even count; null for none.</summary>
    public static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.OfType<double>().Order().ToList();
        if (sorted.Count == 0)
        {
            return null;
        }
        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary><paramref name="value"/> ÷ <paramref name="over"/>, or null where either is missing or the divisor is not positive.</summary>
    public static double? Ratio(double? value, double? over) => value is not null && over is > 0 ? value / over : null;

    /// <summary>The ratio within each round: <paramref name="values"/>[r] ÷ <paramref name="over"/>[r].</summary>
    public static IReadOnlyList<double?> RatiosPerRound(IReadOnlyList<double?> values, IReadOnlyList<double?> over)
    {
        if (values.Count != over.Count)
        {
            throw new ArgumentException($"Both sides need a value per round ({values.Count} and {over.Count}).", nameof(over));
        }
        return [.. values.Select((value, round) => Ratio(value, over[round]))];
    }
}
