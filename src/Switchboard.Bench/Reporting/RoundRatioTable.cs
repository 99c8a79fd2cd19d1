using System.Globalization;
using System.Text;

namespace Switchboard.Bench.Reporting;

/// <summary>
/// The spread behind the medians of a <c>--proxy --rounds N</c> run: for latency p50, p99, p99.9, p99 from the due
/// time and throughput, each ratio between paths in every round, so that a reader sees how far one round's ratio is
/// from another's.
/// </summary>
public static class RoundRatioTable
{
    /// <summary>The figures whose ratios are shown per round, by key, in this order.</summary>
    public static readonly IReadOnlyList<string> Figures = ["latency_p50", "latency_p99", "latency_p999", "latency_due_p99", "delivered_rate"];

    /// <summary>A row per figure of <see cref="Figures"/> and ratio; empty when the comparisons carry no rounds.</summary>
    public static IReadOnlyList<RoundRatioRow> Rows(IReadOnlyList<PathComparison> comparisons) =>
        [.. Figures.Select(key => comparisons.FirstOrDefault(c => c.Key == key)).OfType<PathComparison>()
            .SelectMany(c => (c.RoundRatios ?? new Dictionary<string, IReadOnlyList<double?>>()).Select(r => new RoundRatioRow(c.Label, r.Key, r.Value, c.Ratios[r.Key])))];

    /// <summary>The report setting an interleaved run (<c>--interleave</c>) carries.</summary>
    public const string InterleaveSetting = "interleave";

    /// <summary>
    /// Appends the table, with a line on what it shows (how the paths of a round ran: <paramref name="interleaved"/> or
    /// back to back), to <paramref name="md"/>; nothing when there are no rows.
    /// </summary>
    internal static void AppendMarkdown(StringBuilder md, IReadOnlyList<PathComparison> comparisons, bool interleaved = false)
    {
        var rows = Rows(comparisons);
        if (rows.Count == 0)
        {
            return;
        }
        var rounds = rows[0].Rounds.Count;
        md.AppendLine();
        md.AppendLine(interleaved
            ? "Ratios within each round (the paths of a round ran at the same time, interleaved on one cluster):"
            : "Ratios within each round (the paths of a round ran back to back; odd rounds took them in the order above, even rounds in reverse):");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"| figure | ratio | {string.Join(" | ", Enumerable.Range(1, rounds).Select(r => $"round {r}"))} | median |");
        md.AppendLine($"| --- | --- |{string.Concat(Enumerable.Repeat(" ---: |", rounds + 1))}");
        foreach (var row in rows)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {row.Label} | {row.Ratio} | {string.Join(" | ", row.Rounds.Select(ReportWriter.Ratio))} | {ReportWriter.Ratio(row.Median)} |");
        }
    }
}

/// <summary>One ratio of one figure in every round, and their median.</summary>
/// <param name="Label">The figure's label.</param>
/// <param name="Ratio">The ratio's name, <c>path/path</c>.</param>
/// <param name="Rounds">The ratio within each round, round 1 first.</param>
/// <param name="Median">Their median, as the comparison gives it.</param>
public sealed record RoundRatioRow(string Label, string Ratio, IReadOnlyList<double?> Rounds, double? Median);
