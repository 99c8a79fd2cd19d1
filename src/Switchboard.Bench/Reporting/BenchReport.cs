namespace Switchboard.Bench.Reporting;

/// <summary>Everything one bench run measured: what <c>--out</c> holds as JSON and Markdown.</summary>
public sealed record BenchReport(
    string Scenario,
    string Command,
    DateTimeOffset StartedAt,
    MachineFacts Machine,
    IReadOnlyDictionary<string, string> Settings,
    ScenarioResult Switchboard,
    ScenarioResult? Baseline)
{
    /// <summary>Each Switchboard figure beside the baseline's, with their ratio (Switchboard ÷ baseline).</summary>
    public IReadOnlyList<Comparison> Comparisons =>
        [.. Switchboard.Figures.Select(f =>
        {
            var other = Baseline?.Figures.FirstOrDefault(b => b.Key == f.Key);
            double? ratio = other is { Value: > 0 } && f.Value is not null ? f.Value / other.Value : null;
            return new Comparison(f.Key, f.Label, f.Unit, f.Value, other?.Value, ratio);
        })];
}

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

/// <summary>One process of the system under test: memory before and after the clients came, its peak and the CPU it used.</summary>
public sealed record ProcessFigures(string Name, int ProcessId, int Connections, long RssBeforeBytes, long RssAfterBytes, long RssPeakBytes, double CpuCores, int OpenFiles)
{
    /// <summary>Resident memory the connections added, per connection.</summary>
    public double? RssPerConnectionBytes => Connections > 0 ? (double)(RssAfterBytes - RssBeforeBytes) / Connections : null;
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
