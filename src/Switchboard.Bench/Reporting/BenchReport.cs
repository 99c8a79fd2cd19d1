namespace Switchboard.Bench.Reporting;

/// <summary>Everything one bench run measured: what <c>--out</c> holds as JSON and Markdown.</summary>
/// <param name="Scenario">The scenario's name.</param>
/// <param name="Command">The command line.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="Machine">The machine it ran on.</param>
/// <param name="Settings">The settings that shape the figures, for people.</param>
/// <param name="Switchboard">The run against Switchboard (with <c>--proxy</c>: the first path).</param>
/// <param name="Baseline">The baseline run, when one was asked for.</param>
/// <param name="Paths">
/// With <c>--proxy</c>: one run per path (direct, proxy, haproxy), the same scenario each (with <c>--rounds</c>: the
/// first round's); null otherwise.
/// </param>
/// <param name="Rounds">
/// With <c>--proxy --rounds N</c> (N &gt; 1): every run, per path in the order of <paramref name="Paths"/>; null with one
/// round, whose runs are <paramref name="Paths"/>.
/// </param>
public sealed record BenchReport(
    string Scenario,
    string Command,
    DateTimeOffset StartedAt,
    MachineFacts Machine,
    IReadOnlyDictionary<string, string> Settings,
    ScenarioResult Switchboard,
    ScenarioResult? Baseline,
    IReadOnlyList<ScenarioResult>? Paths = null,
    IReadOnlyList<PathRounds>? Rounds = null)
{
    /// <summary>
    /// With <see cref="Paths"/>: each figure on every path, and its ratios <c>proxy/direct</c>, <c>haproxy/direct</c> and
    /// <c>proxy/haproxy</c> (named by the paths' names) where both sides have it; null otherwise. Over several
    /// <see cref="Rounds"/>, a value is the path's median over the rounds and a ratio the median of its ratios within each
    /// round (each round's paths ran back to back, so they shared that round's machine).
    /// </summary>
    public IReadOnlyList<PathComparison>? PathComparisons
    {
        get
        {
            if (Paths is null)
            {
                return null;
            }
            var runs = RunsByPath(Paths, Rounds);
            var names = Paths.Select(p => p.Target).ToList();
            var pairs = RatioPairs(names.Count);
            return [.. runs.SelectMany(r => r).SelectMany(r => r.Figures).DistinctBy(f => f.Key).Select(f =>
            {
                var rounds = runs.Select(r => (IReadOnlyList<double?>)[.. r.Select(run => run[f.Key])]).ToList();
                var values = names.Select((name, i) => (Name: name, Median: RoundStatistics.Median(rounds[i]))).ToDictionary(v => v.Name, v => v.Median);
                var perRound = pairs.ToDictionary(p => $"{names[p.Path]}/{names[p.Over]}", p => RoundStatistics.RatiosPerRound(rounds[p.Path], rounds[p.Over]));
                return new PathComparison(f.Key, f.Label, f.Unit, values, perRound.ToDictionary(r => r.Key, r => RoundStatistics.Median(r.Value)),
                    Rounds is null ? null : perRound);
            })];
        }
    }

    /// <summary>Each later path over the first, then each later path over those after it: proxy/direct, haproxy/direct, proxy/haproxy.</summary>
    private static List<(int Path, int Over)> RatioPairs(int paths)
    {
        var pairs = new List<(int Path, int Over)>();
        for (var i = 1; i < paths; i++)
        {
            pairs.Add((i, 0));
        }
        for (var i = 1; i < paths; i++)
        {
            for (var j = i + 1; j < paths; j++)
            {
                pairs.Add((i, j));
            }
        }
        return pairs;
    }

    private static IReadOnlyList<IReadOnlyList<ScenarioResult>> RunsByPath(IReadOnlyList<ScenarioResult> paths, IReadOnlyList<PathRounds>? rounds)
    {
        if (rounds is null)
        {
            return [.. paths.Select(p => (IReadOnlyList<ScenarioResult>)[p])];
        }
        if (!rounds.Select(r => r.Target).SequenceEqual(paths.Select(p => p.Target)) || rounds.Any(r => r.Runs.Count != rounds[0].Runs.Count))
        {
            throw new InvalidOperationException("Rounds must hold the paths of Paths, in their order, with a run in every round each.");
        }
        return [.. rounds.Select(r => r.Runs)];
    }

    /// <summary>Each Switchboard figure beside the baseline's, with their ratio (Switchboard ÷ baseline).</summary>
    public IReadOnlyList<Comparison> Comparisons =>
        [.. Switchboard.Figures.Select(f =>
        {
            var other = Baseline?.Figures.FirstOrDefault(b => b.Key == f.Key);
            return new Comparison(f.Key, f.Label, f.Unit, f.Value, other?.Value, RoundStatistics.Ratio(f.Value, other?.Value));
        })];

    /// <summary>
    /// Every run of the report, named for headings (a method, so that the JSON does not hold the runs twice): each path's run in every round ("proxy, round 2") over several
    /// rounds, else the paths, else Switchboard and the baseline.
    /// </summary>
    public IReadOnlyList<ScenarioResult> NamedRuns() =>
        Rounds is { } rounds ? [.. rounds.SelectMany(path => path.Runs.Select((run, i) => run with { Target = $"{path.Target}, round {i + 1}" }))]
        : Paths ?? [.. new[] { Switchboard, Baseline }.OfType<ScenarioResult>()];
}

/// <summary>
/// One figure on every path of a <c>--proxy</c> run: values by path name, ratios by <c>path/path</c>; over several rounds
/// the medians, and each ratio in every round (round 1 first) in <paramref name="RoundRatios"/>.
/// </summary>
public sealed record PathComparison(string Key, string Label, string Unit, IReadOnlyDictionary<string, double?> Values, IReadOnlyDictionary<string, double?> Ratios,
    IReadOnlyDictionary<string, IReadOnlyList<double?>>? RoundRatios = null);

/// <summary>One path of a <c>--proxy --rounds N</c> run: its run in each round, round 1 first.</summary>
public sealed record PathRounds(string Target, IReadOnlyList<ScenarioResult> Runs);

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
    long? RssEndBytes = null, long? AnonBeforeBytes = null, long? AnonEndBytes = null, TimeSpan? ConnectCpu = null)
{
    /// <summary>Resident memory the connections added, per connection.</summary>
    public double? RssPerConnectionBytes => Connections > 0 ? (double)(RssAfterBytes - RssBeforeBytes) / Connections : null;

    /// <summary>Resident memory the connections added, per connection, at the end of an idle hold.</summary>
    public double? RssEndPerConnectionBytes => Connections > 0 && RssEndBytes is { } end ? (double)(end - RssBeforeBytes) / Connections : null;
}

/// <summary>The machine a run was measured on.</summary>
/// <param name="Cores">Logical processors.</param>
/// <param name="MemoryBytes">Total memory (<c>MemTotal</c>).</param>
/// <param name="Runtime">The .NET runtime's description.</param>
/// <param name="Os">The operating system's description.</param>
/// <param name="Commit">The git commit of the working folder, or <c>unknown</c>.</param>
/// <param name="CongestionControl">The system's TCP congestion control (<c>net.ipv4.tcp_congestion_control</c>): it
/// decides how every connection of the run sends, so a figure compared across machines needs it.</param>
public sealed record MachineFacts(int Cores, long MemoryBytes, string Runtime, string Os, string Commit, string? CongestionControl = null)
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
        string? congestion = null;
        try
        {
            congestion = File.ReadAllText("/proc/sys/net/ipv4/tcp_congestion_control").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return new MachineFacts(Environment.ProcessorCount, memory, System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription, GitCommit(), congestion);
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
