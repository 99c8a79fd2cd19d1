using System.Text.Json;
using Switchboard.Bench.Reporting;

namespace Switchboard.Bench.Tests.Reporting;

/// <summary>A <c>--proxy --rounds N</c> report: medians over the rounds, medians of per-round ratios, and the spread behind them.</summary>
public sealed class RoundsReportTests
{
    private static ScenarioResult Run(string path, int round, double p50, double p99, double p999, double rate, double cpu) => new(path, path + " description",
        [
            new Figure("latency_p50", "latency p50", p50, "µs"),
            new Figure("latency_p99", "latency p99", p99, "µs"),
            new Figure("latency_p999", "latency p99.9", p999, "µs"),
            new Figure("delivered_rate", "deliveries per second", rate, "msg/s"),
            new Figure("cpu_per_delivery", "CPU per delivery", cpu, "µs"),
        ],
        new Dictionary<string, long>(), new Dictionary<string, long>(), new Dictionary<string, long>(),
        [new ProcessFigures($"{path}-node-1", 100 * round, 50, 1 << 20, 2 << 20, 2 << 20, 0.1, 30)], round == 2 ? [$"{path} note in round 2"] : []);

    private static ScenarioResult NotRun(string path) => new(path, "not run", [], new Dictionary<string, long>(), new Dictionary<string, long>(),
        new Dictionary<string, long>(), [], ["Not run: haproxy is not installed."]);

    private static BenchReport Report(params PathRounds[] rounds)
    {
        var paths = rounds.Select(r => r.Runs[0]).ToList();
        return new BenchReport("direct", "switchboard bench --scenario direct --proxy --rounds 3", new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero),
            new MachineFacts(2, 24L << 30, ".NET 10.0.0", "Linux", "abc1234"), new Dictionary<string, string> { ["clients"] = "50" },
            paths[0], null, paths, rounds);
    }

    /// <summary>Three rounds on three paths; the proxy has one slow round (p99 8 ms).</summary>
    private static BenchReport ThreeRounds() => Report(
        new PathRounds("direct", [Run("direct", 1, 500, 1_000, 2_000, 5_000, 100), Run("direct", 2, 600, 2_000, 3_000, 4_000, 110), Run("direct", 3, 700, 4_000, 5_000, 4_500, 120)]),
        new PathRounds("proxy", [Run("proxy", 1, 550, 1_500, 2_500, 4_500, 130), Run("proxy", 2, 540, 1_800, 2_700, 4_400, 125), Run("proxy", 3, 840, 8_000, 9_000, 3_600, 140)]),
        new PathRounds("haproxy", [Run("haproxy", 1, 600, 1_200, 2_200, 4_000, 150), Run("haproxy", 2, 660, 3_000, 3_300, 4_000, 150), Run("haproxy", 3, 700, 4_400, 5_500, 4_500, 150)]));

    [Fact]
    public void PathComparisons_GiveTheMedianOfEachPath_AndTheMedianOfTheRatiosWithinEachRound()
    {
        var p99 = ThreeRounds().PathComparisons.ShouldNotBeNull().Single(r => r.Key == "latency_p99");

        p99.Values.ShouldBe(new Dictionary<string, double?> { ["direct"] = 2_000, ["proxy"] = 1_800, ["haproxy"] = 3_000 });
        // proxy/direct per round: 1.5, 0.9, 2.0; the ratio of the medians would be 0.9.
        p99.RoundRatios.ShouldNotBeNull()["proxy/direct"].Select(r => Math.Round(r!.Value, 6)).ShouldBe([1.5, 0.9, 2.0]);
        p99.Ratios["proxy/direct"]!.Value.ShouldBe(1.5, 1e-9);
        // haproxy/direct: 1.2, 1.5, 1.1; proxy/haproxy: 1.25, 0.6, 1.818…
        p99.Ratios["haproxy/direct"]!.Value.ShouldBe(1.2, 1e-9);
        p99.Ratios["proxy/haproxy"]!.Value.ShouldBe(1.25, 1e-9);
        p99.Ratios.Keys.ShouldBe(["proxy/direct", "haproxy/direct", "proxy/haproxy"]);
    }

    [Fact]
    public void PathComparisons_OverTwoRounds_TakeTheMeanOfTheMiddleTwo_AndLeaveAPathThatDidNotRunWithoutRatios()
    {
        var report = Report(
            new PathRounds("direct", [Run("direct", 1, 500, 1_000, 2_000, 5_000, 100), Run("direct", 2, 700, 3_000, 4_000, 4_000, 120)]),
            new PathRounds("proxy", [Run("proxy", 1, 600, 1_200, 2_400, 4_500, 130), Run("proxy", 2, 700, 3_300, 4_000, 4_400, 140)]),
            new PathRounds("haproxy", [NotRun("haproxy"), NotRun("haproxy")]));

        var p99 = report.PathComparisons.ShouldNotBeNull().Single(r => r.Key == "latency_p99");
        p99.Values["direct"].ShouldBe(2_000);
        p99.Values["proxy"].ShouldBe(2_250);
        p99.Values["haproxy"].ShouldBeNull();
        // 1.2 and 1.1: their mean.
        p99.Ratios["proxy/direct"]!.Value.ShouldBe(1.15, 1e-9);
        p99.Ratios["haproxy/direct"].ShouldBeNull();
        p99.RoundRatios.ShouldNotBeNull()["haproxy/direct"].ShouldBe([null, null]);

        var markdown = ReportWriter.ToMarkdown(report);
        markdown.ShouldContain("| latency p99 | 2.00 ms | 2.25 ms | — | 1.15× | — | — |");
        markdown.ShouldContain("| figure | ratio | round 1 | round 2 | median |\n| --- | --- | ---: | ---: | ---: |\n");
        markdown.ShouldContain("| latency p99 | proxy/direct | 1.20× | 1.10× | 1.15× |");
        markdown.ShouldContain("| latency p99 | haproxy/direct | — | — | — |");
    }

    [Fact]
    public void Markdown_SaysHowTheRoundsPathsRan_BackToBack_OrInterleaved()
    {
        var backToBack = ThreeRounds();
        var interleaved = backToBack with { Settings = new Dictionary<string, string> { [RoundRatioTable.InterleaveSetting] = "at once" } };

        ReportWriter.ToMarkdown(backToBack).ShouldContain("the paths of a round ran back to back;");
        var markdown = ReportWriter.ToMarkdown(interleaved);
        markdown.ShouldContain("the paths of a round ran at the same time, interleaved on one cluster");
        markdown.ShouldNotContain("back to back");
    }

    [Fact]
    public void Markdown_OfThreeRounds_ShowsTheMedians_ThePerRoundRatiosOfLatencyAndThroughput_AndEveryRunsProcesses()
    {
        var markdown = ReportWriter.ToMarkdown(ThreeRounds());

        markdown.ShouldContain("Each value is the path's median over 3 rounds; each ratio is the median of that ratio within each round");
        markdown.ShouldContain("| figure | direct | proxy | haproxy | proxy/direct | haproxy/direct | proxy/haproxy |");
        markdown.ShouldContain("| latency p99 | 2.00 ms | 1.80 ms | 3.00 ms | 1.50× | 1.20× | 1.25× |");
        markdown.ShouldContain("| deliveries per second | 4,500 msg/s | 4,400 msg/s | 4,000 msg/s | 0.90× | 1.00× | 1.10× |");

        markdown.ShouldContain("| figure | ratio | round 1 | round 2 | round 3 | median |");
        markdown.ShouldContain("| latency p50 | proxy/direct | 1.10× | 0.90× | 1.20× | 1.10× |");
        markdown.ShouldContain("| latency p99 | proxy/direct | 1.50× | 0.90× | 2.00× | 1.50× |");
        markdown.ShouldContain("| latency p99 | proxy/haproxy | 1.25× | 0.60× | 1.82× | 1.25× |");
        markdown.ShouldContain("| latency p99.9 | haproxy/direct | 1.10× | 1.10× | 1.10× | 1.10× |");
        markdown.ShouldContain("| deliveries per second | proxy/direct | 0.90× | 1.10× | 0.80× | 0.90× |");
        // CPU per delivery is in the comparison, but not among the figures whose spread is shown.
        markdown.ShouldContain("| CPU per delivery |");
        markdown.ShouldNotContain("| CPU per delivery | proxy/direct |");
        // The per-round table follows the comparison, in the order latency p50, p99, p99.9, throughput.
        markdown.IndexOf("| latency p50 | proxy/direct |", StringComparison.Ordinal).ShouldBeLessThan(markdown.IndexOf("| latency p99 | proxy/direct |", StringComparison.Ordinal));
        markdown.IndexOf("| latency p99.9 | proxy/direct |", StringComparison.Ordinal).ShouldBeLessThan(markdown.IndexOf("| deliveries per second | proxy/direct |", StringComparison.Ordinal));

        markdown.ShouldContain("## direct, round 1: processes");
        markdown.ShouldContain("## haproxy, round 3: processes");
        markdown.ShouldContain("| proxy-node-1 | 300 | 50 |");
        markdown.ShouldContain("- proxy note in round 2");
        markdown.ShouldNotContain("## proxy: processes");
    }

    [Fact]
    public void Json_KeepsEveryRunPerPath_AndEachRatioInEveryRound()
    {
        using var json = JsonDocument.Parse(ReportWriter.ToJson(ThreeRounds()));
        var root = json.RootElement;

        var rounds = root.GetProperty("rounds");
        rounds.GetArrayLength().ShouldBe(3);
        rounds[1].GetProperty("target").GetString().ShouldBe("proxy");
        var proxyRuns = rounds[1].GetProperty("runs");
        proxyRuns.GetArrayLength().ShouldBe(3);
        proxyRuns[2].GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("key").GetString() == "latency_p99").GetProperty("value").GetDouble().ShouldBe(8_000);
        proxyRuns[2].GetProperty("processes")[0].GetProperty("processId").GetInt32().ShouldBe(300);

        // The fields of one round keep their meaning: paths are round 1's runs, comparisons the medians.
        root.GetProperty("paths").GetArrayLength().ShouldBe(3);
        root.GetProperty("paths")[1].GetProperty("processes")[0].GetProperty("processId").GetInt32().ShouldBe(100);
        var p99 = root.GetProperty("pathComparisons").EnumerateArray().Single(c => c.GetProperty("key").GetString() == "latency_p99");
        p99.GetProperty("values").GetProperty("proxy").GetDouble().ShouldBe(1_800);
        p99.GetProperty("ratios").GetProperty("proxy/direct").GetDouble().ShouldBe(1.5, 1e-9);
        p99.GetProperty("roundRatios").GetProperty("proxy/direct").EnumerateArray().Select(r => Math.Round(r.GetDouble(), 6)).ShouldBe([1.5, 0.9, 2.0]);
    }

    [Fact]
    public void OneRound_ReportsAsWithoutRounds()
    {
        var single = ThreeRounds() with { Command = "switchboard bench --scenario direct --proxy", Rounds = null };

        var markdown = ReportWriter.ToMarkdown(single);
        markdown.ShouldNotContain("round");
        markdown.ShouldNotContain("median");
        markdown.ShouldContain("| latency p99 | 1.00 ms | 1.50 ms | 1.20 ms | 1.50× | 1.20× | 1.25× |");
        markdown.ShouldContain("## proxy: processes");
        using var json = JsonDocument.Parse(ReportWriter.ToJson(single));
        json.RootElement.TryGetProperty("rounds", out _).ShouldBeFalse();
        json.RootElement.GetProperty("pathComparisons")[0].TryGetProperty("roundRatios", out _).ShouldBeFalse();
    }

    [Fact]
    public void Rounds_ThatDoNotMatchThePaths_AreRefused()
    {
        var report = ThreeRounds();
        var shuffled = report with { Rounds = [report.Rounds![1], report.Rounds[0], report.Rounds[2]] };

        Should.Throw<InvalidOperationException>(() => shuffled.PathComparisons);
    }
}
