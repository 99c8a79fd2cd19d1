using System.Globalization;
using System.Text;
using System.Text.Json;
using Switchboard.Bench.Load;

namespace Switchboard.Bench.Reporting;

/// <summary>Writes a report as JSON (for scripts) and Markdown (for people).</summary>
public static class ReportWriter
{
    /// <summary>Writes <c>bench-&lt;scenario&gt;-&lt;time&gt;.json</c> and <c>.md</c> into <paramref name="folder"/>; returns both paths.</summary>
    public static async Task<(string Json, string Markdown)> WriteAsync(BenchReport report, string folder, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(folder);
        var stem = Path.Combine(folder, $"bench-{report.Scenario}-{report.StartedAt:yyyyMMdd-HHmmss}");
        await File.WriteAllTextAsync(stem + ".json", ToJson(report), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(stem + ".md", ToMarkdown(report), cancellationToken).ConfigureAwait(false);
        return (stem + ".json", stem + ".md");
    }

    /// <summary>The report as indented JSON, comparisons included.</summary>
    public static string ToJson(BenchReport report) =>
        JsonSerializer.Serialize(report, new JsonSerializerOptions(BenchJson.Options) { WriteIndented = true });

    /// <summary>The report as a Markdown page.</summary>
    public static string ToMarkdown(BenchReport report)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# switchboard bench: {report.Scenario}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"`{report.Command}`");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{report.StartedAt:yyyy-MM-dd HH:mm:ss} UTC · commit {report.Machine.Commit} · {report.Machine.Cores} cores · {Bytes(report.Machine.MemoryBytes)} · {report.Machine.Runtime} · {report.Machine.Os}{(report.Machine.CongestionControl is { } cc ? $" · TCP congestion control {cc}" : "")}");
        md.AppendLine();
        if (report.Paths is not null)
        {
            foreach (var path in report.Paths)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- {path.Target}: {path.Description}");
            }
        }
        else
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- Switchboard: {report.Switchboard.Description}");
        }
        if (report.Baseline is not null)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- Baseline: {report.Baseline.Description}");
        }
        foreach (var (key, value) in report.Settings)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {key}: {value}");
        }
        md.AppendLine();
        if (report.PathComparisons is { } rows)
        {
            if (report.Rounds is { Count: > 0 } rounds)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"Each value is the path's median over {rounds[0].Runs.Count} rounds; each ratio is the median of that ratio within each round, not a ratio of medians.");
                md.AppendLine();
            }
            var ratioNames = rows.Count == 0 ? [] : rows[0].Ratios.Keys.ToList();
            md.AppendLine($"| figure | {string.Join(" | ", report.Paths!.Select(p => p.Target).Concat(ratioNames))} |");
            md.AppendLine($"| --- |{string.Concat(Enumerable.Repeat(" ---: |", report.Paths!.Count + ratioNames.Count))}");
            foreach (var row in rows)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {row.Label} | {string.Join(" | ", row.Values.Values.Select(v => Format(v, row.Unit)).Concat(row.Ratios.Values.Select(Ratio)))} |");
            }
            RoundRatioTable.AppendMarkdown(md, rows, interleaved: report.Settings.ContainsKey(RoundRatioTable.InterleaveSetting));
        }
        else if (report.Baseline is null)
        {
            md.AppendLine("| figure | value |");
            md.AppendLine("| --- | ---: |");
            foreach (var f in report.Switchboard.Figures)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {f.Label} | {Format(f.Value, f.Unit)} |");
            }
        }
        else
        {
            md.AppendLine("| figure | Switchboard | baseline | ratio |");
            md.AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var c in report.Comparisons)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {c.Label} | {Format(c.Switchboard, c.Unit)} | {Format(c.Baseline, c.Unit)} | {Ratio(c.Ratio)} |");
            }
        }
        foreach (var result in report.NamedRuns())
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"## {result.Target}: processes");
            md.AppendLine();
            md.AppendLine("| process | pid | connections | RSS before | RSS after | RSS peak | RSS per connection | CPU (cores) | CPU while connecting | open files |");
            md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var p in result.Processes)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {p.Name} | {p.ProcessId} | {p.Connections} | {Bytes(p.RssBeforeBytes)} | {Bytes(p.RssAfterBytes)} | {Bytes(p.RssPeakBytes)} | {(p.RssPerConnectionBytes is { } b ? Bytes((long)b) : "—")} | {p.CpuCores:0.00} | {(p.ConnectCpu is { } connect ? $"{connect.TotalSeconds:0.00} s" : "—")} | {p.OpenFiles} |");
            }
            Counts(md, $"{result.Target}: connections that failed, by reason", result.ConnectFailures);
            Counts(md, $"{result.Target}: refused commands and errors, by code", result.Errors);
            Counts(md, $"{result.Target}: connections closed by the server, by close code", result.Closes);
            if (result.Notes.Count > 0)
            {
                md.AppendLine();
                foreach (var note in result.Notes)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
                }
            }
        }
        return md.ToString();
    }

    /// <summary>A value with its unit, readable: 12,345 msg/s, 1.2 ms, 5.5 KB.</summary>
    public static string Format(double? value, string unit) => value switch
    {
        null => "—",
        { } v when unit == "µs" => v >= 1000 ? $"{(v / 1000).ToString("0.00", CultureInfo.InvariantCulture)} ms" : $"{v.ToString("0", CultureInfo.InvariantCulture)} µs",
        { } v when unit == "B" => Bytes((long)v),
        { } v when unit == "s" => $"{v.ToString("0.00", CultureInfo.InvariantCulture)} s",
        { } v when unit == "cores" => $"{v.ToString("0.00", CultureInfo.InvariantCulture)} cores",
        { } v => $"{v.ToString(v % 1 == 0 || Math.Abs(v) >= 100 ? "#,0" : "#,0.##", CultureInfo.InvariantCulture)}{(unit.Length == 0 ? "" : " " + unit)}",
    };

    /// <summary>A ratio as 1.23×, or a dash.</summary>
    public static string Ratio(double? ratio) => ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—";

    /// <summary>Bytes in B, KB, MB or GB (powers of 1024).</summary>
    public static string Bytes(long bytes) => Math.Abs(bytes) switch
    {
        >= 1L << 30 => $"{(bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture)} GB",
        >= 1L << 20 => $"{(bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture)} MB",
        >= 1L << 10 => $"{(bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)} KB",
        _ => $"{bytes} B",
    };

    private static void Counts(StringBuilder md, string title, IReadOnlyDictionary<string, long> counts)
    {
        if (counts.Count == 0)
        {
            return;
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{title}: {string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key} × {c.Value}"))}");
    }
}
