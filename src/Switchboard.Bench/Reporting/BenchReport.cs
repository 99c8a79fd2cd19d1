namespace Switchboard.Bench.Reporting;

/// <summary>Everything one bench run measured: what <c>--out</c> holds as JSON and Markdown.</summary>
/// <param name="Scenario">The scenario's name.</param>
/// <param name="Command">The command line.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="Machine">The machine it ran on.</param>
/// <param name="Settings">The settings that shape the figures, for people.</param>
/// <param name="Switchboard">The run against Switchboard (with <c>--proxy</c>: the first path).</param>
/// <param name="Baseline">The baseline run, when one was asked for.</param>
/// <param name="Paths">With <c>--proxy</c>: one run per path (direct, proxy, haproxy), the same scenario each; null otherwise.</param>
public sealed record BenchReport(
    string Scenario,
    string Command,
    DateTimeOffset StartedAt,
    MachineFacts Machine,
    IReadOnlyDictionary<string, string> Settings,
    ScenarioResult Switchboard,
    ScenarioResult? Baseline,
    IReadOnlyList<ScenarioResult>? Paths = null)
{
    /// <summary>
    /// With <see cref="Paths"/>: each figure on every path, and its ratios <c>proxy/direct</c>, <c>haproxy/direct</c> and
    /// <c>proxy/haproxy</c> (named by the paths' names) where both sides have it; null otherwise.
    /// </summary>
    public IReadOnlyList<PathComparison>? PathComparisons => Paths is null ? null :
        [.. Paths.SelectMany(p => p.Figures).DistinctBy(f => f.Key).Select(f =>
        {
            var values = Paths.ToDictionary(p => p.Target, p => p[f.Key]);
            var ratios = new Dictionary<string, double?>();
            for (var i = 1; i < Paths.Count; i++)
            {
                ratios[$"{Paths[i].Target}/{Paths[0].Target}"] = Ratio(values[Paths[i].Target], values[Paths[0].Target]);
            }
            for (var i = 1; i < Paths.Count; i++)
            {
                for (var j = i + 1; j < Paths.Count; j++)
                {
                    ratios[$"{Paths[i].Target}/{Paths[j].Target}"] = Ratio(values[Paths[i].Target], values[Paths[j].Target]);
                }
            }
            return new PathComparison(f.Key, f.Label, f.Unit, values, ratios);
        })];

    /// <summary>Each Switchboard figure beside the baseline's, with their ratio (Switchboard ÷ baseline).</summary>
    public IReadOnlyList<Comparison> Comparisons =>
        [.. Switchboard.Figures.Select(f =>
        {
            var other = Baseline?.Figures.FirstOrDefault(b => b.Key == f.Key);
            double? ratio = other is { Value: > 0 } && f.Value is not null ? f.Value / other.Value : null;
            return new Comparison(f.Key, f.Label, f.Unit, f.Value, other?.Value, ratio);
        })];

    private static double? Ratio(double? value, double? over) => value is not null && over is > 0 ? value / over : null;
}

/// <summary>One figure on every path of a <c>--proxy</c> run: values by path name, ratios by <c>path/path</c>.</summary>
public sealed record PathComparison(string Key, string Label, string Unit, IReadOnlyDictionary<string, double?> Values, IReadOnlyDictionary<string, double?> Ratios);

/// <summary>One figure of both runs.</summary>
public sealed record Comparison(string Key, string Label, string Unit, double? Switchboard, double? Baseline, double? Ratio);

/// <summary>What one run against one target measured.</summary>
public sealed record ScenarioResult(
    string Target,
    string Description,
    IReadOnlyList<Figure> Figures,
    IReadOnlyDictionary<string, long> ConnectFailures,
    IReadOnlyDictionary<string, long> Errors,
    IReadOnlyDictionary<string, long> Closes,
    IReadOnlyList<ProcessFigures> Processes,
    IReadOnlyList<string> Notes)
{
    /// <summary>The figure named <paramref name="key"/>, or null.</summary>
    public double? this[string key] => Figures.FirstOrDefault(f => f.Key == key)?.Value;
}

/// <summary>A measured quantity: a stable key (for scripts), a label (for people) and its unit.</summary>
public sealed record Figure(string Key, string Label, double? Value, string Unit);

/// <summary>
/// One process of the system under test: memory before and after the clients came, its peak, the CPU it used, and
/// (idle scenario) its memory at the end of the hold, in all and its anonymous part (before and at the end).
/// </summary>
public sealed record ProcessFigures(string Name, int ProcessId, int Connections, long RssBeforeBytes, long RssAfterBytes, long RssPeakBytes, double CpuCores, int OpenFiles,
    long? RssEndBytes = null, long? AnonBeforeBytes = null, long? AnonEndBytes = null)
{
    /// <summary>Resident memory the connections added, per connection.</summary>
    public double? RssPerConnectionBytes => Connections > 0 ? (double)(RssAfterBytes - RssBeforeBytes) / Connections : null;

    /// <summary>Resident memory the connections added, per connection, at the end of an idle hold.</summary>
    public double? RssEndPerConnectionBytes => Connections > 0 && RssEndBytes is { } end ? (double)(end - RssBeforeBytes) / Connections : null;
}

/// <summary>The machine a run was measured on.</summary>
public sealed record MachineFacts(int Cores, long MemoryBytes, string Runtime, string Os, string Commit)
{
    /// <summary>Reads this machine's facts; the commit from <c>git</c> in the working folder, when there is one.</summary>
    public static MachineFacts Read()
    {
        long memory = 0;
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null)
            {
                memory = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        return new MachineFacts(Environment.ProcessorCount, memory, System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription, GitCommit());
    }

    private static string GitCommit()
    {
        try
        {
            using var git = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", ["rev-parse", "--short", "HEAD"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (git is null)
            {
                return "unknown";
            }
            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 && output.Length > 0 ? output : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
