using System.Text.Json;
using Switchboard.Bench.Reporting;

namespace Switchboard.Bench.Tests.Reporting;

public sealed class ReportWriterTests
{
    private static BenchReport Report(bool withBaseline) => new(
        "direct",
        "switchboard bench --scenario direct --cluster local:2",
        new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero),
        new MachineFacts(2, 24L << 30, ".NET 10.0.0", "Linux", "abc1234", "bbr"),
        new Dictionary<string, string> { ["clients"] = "200" },
        new ScenarioResult("switchboard", "2 node processes over RabbitMQ",
            [new Figure("delivered_rate", "deliveries per second", 50_000, "msg/s"), new Figure("latency_p99", "latency p99", 2_500, "µs"), new Figure("connections_reported", "connections the nodes report", 200, "")],
            new Dictionary<string, long> { ["http_503"] = 2 }, new Dictionary<string, long>(), new Dictionary<string, long> { ["3008"] = 1 },
            [new ProcessFigures("node-1", 42, 100, 50L << 20, 51L << 20, 60L << 20, 0.5, 130, ConnectCpu: TimeSpan.FromMilliseconds(1250))],
            ["a note"]),
        withBaseline
            ? new ScenarioResult("baseline", "bare Kestrel", [new Figure("delivered_rate", "deliveries per second", 100_000, "msg/s"), new Figure("latency_p99", "latency p99", 1_000, "µs")],
                new Dictionary<string, long>(), new Dictionary<string, long>(), new Dictionary<string, long>(), [], [])
            : null);

    [Fact]
    public void Comparisons_PutEachFigureBesideTheBaseline_WithTheirRatio()
    {
        var comparisons = Report(withBaseline: true).Comparisons;
        comparisons.Single(c => c.Key == "delivered_rate").Ratio.ShouldBe(0.5);
        comparisons.Single(c => c.Key == "latency_p99").Ratio.ShouldBe(2.5);
        // A figure the baseline has no counterpart for gets no ratio.
        comparisons.Single(c => c.Key == "connections_reported").Ratio.ShouldBeNull();
        Report(withBaseline: false).Comparisons.ShouldAllBe(c => c.Ratio == null && c.Baseline == null);
    }

    [Fact]
    public void Json_HoldsFiguresComparisonsProcessesAndMachineFacts()
    {
        using var json = JsonDocument.Parse(ReportWriter.ToJson(Report(withBaseline: true)));
        var root = json.RootElement;
        root.GetProperty("scenario").GetString().ShouldBe("direct");
        root.GetProperty("machine").GetProperty("cores").GetInt32().ShouldBe(2);
        root.GetProperty("machine").GetProperty("commit").GetString().ShouldBe("abc1234");
        root.GetProperty("machine").GetProperty("congestionControl").GetString().ShouldBe("bbr");
        root.GetProperty("switchboard").GetProperty("figures")[0].GetProperty("value").GetDouble().ShouldBe(50_000);
        root.GetProperty("comparisons").EnumerateArray().Single(c => c.GetProperty("key").GetString() == "latency_p99").GetProperty("ratio").GetDouble().ShouldBe(2.5);
        var process = root.GetProperty("switchboard").GetProperty("processes")[0];
        process.GetProperty("rssPerConnectionBytes").GetDouble().ShouldBe(10485.76, 0.01);
        root.GetProperty("switchboard").GetProperty("connectFailures").GetProperty("http_503").GetInt64().ShouldBe(2);
    }

    [Fact]
    public void Markdown_HasTheCommandAComparisonTableAndTheProcesses()
    {
        var markdown = ReportWriter.ToMarkdown(Report(withBaseline: true));
        markdown.ShouldContain("`switchboard bench --scenario direct --cluster local:2`");
        markdown.ShouldContain("· TCP congestion control bbr");
        markdown.ShouldContain("| figure | Switchboard | baseline | ratio |");
        markdown.ShouldContain("| deliveries per second | 50,000 msg/s | 100,000 msg/s | 0.50× |");
        markdown.ShouldContain("| latency p99 | 2.50 ms | 1.00 ms | 2.50× |");
        markdown.ShouldContain("| node-1 | 42 | 100 | 50.0 MB | 51.0 MB | 60.0 MB | 10.2 KB | 0.50 | 1.25 s | 130 |");
        markdown.ShouldContain("http_503 × 2");
        markdown.ShouldContain("3008 × 1");
        markdown.ShouldContain("- a note");
        markdown.ShouldContain("commit abc1234 · 2 cores · 24.0 GB");
    }

    [Fact]
    public void Markdown_WithoutABaseline_HasOneColumnOfValues()
    {
        var markdown = ReportWriter.ToMarkdown(Report(withBaseline: false));
        markdown.ShouldContain("| figure | value |");
        markdown.ShouldNotContain("ratio");
    }

    [Fact]
    public async Task WriteAsync_WritesBothFiles()
    {
        var folder = Directory.CreateTempSubdirectory("bench-report-test-").FullName;
        try
        {
            var (json, markdown) = await ReportWriter.WriteAsync(Report(withBaseline: false), folder).WaitAsync(TimeSpan.FromSeconds(10));
            Path.GetFileName(json).ShouldBe("bench-direct-20261201-100000.json");
            File.ReadAllText(json).ShouldContain("\"scenario\": \"direct\"");
            File.ReadAllText(markdown).ShouldStartWith("# switchboard bench: direct");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(1234.0, "µs", "1.23 ms")]
    [InlineData(812.0, "µs", "812 µs")]
    [InlineData(5632.0, "B", "5.5 KB")]
    [InlineData(123456.0, "msg/s", "123,456 msg/s")]
    [InlineData(0.25, "cores", "0.25 cores")]
    public void Format_IsReadable(double value, string unit, string expected) => ReportWriter.Format(value, unit).ShouldBe(expected);

    private static ScenarioResult Run(string name, double p99, double? proxyRss) => new(name, name + " description",
        proxyRss is null ? [new Figure("latency_p99", "latency p99", p99, "µs")] : [new Figure("latency_p99", "latency p99", p99, "µs"), new Figure("proxy_rss_per_connection", "RSS per connection (proxy processes)", proxyRss, "B")],
        new Dictionary<string, long>(), new Dictionary<string, long>(), new Dictionary<string, long>(), [new ProcessFigures(name + "-1", 7, 10, 1 << 20, 2 << 20, 2 << 20, 0.1, 30)], []);

    private static BenchReport ProxyReport(params ScenarioResult[] paths) => Report(withBaseline: false) with { Switchboard = paths[0], Paths = paths };

    [Fact]
    public void PathComparisons_GiveEachPathAgainstDirect_AndTheProxyAgainstHaProxy()
    {
        var rows = ProxyReport(Run("direct", 1_000, null), Run("proxy", 1_100, 8_000), Run("haproxy", 1_200, 4_000)).PathComparisons.ShouldNotBeNull();

        var p99 = rows.Single(r => r.Key == "latency_p99");
        p99.Values.ShouldBe(new Dictionary<string, double?> { ["direct"] = 1_000, ["proxy"] = 1_100, ["haproxy"] = 1_200 });
        p99.Ratios["proxy/direct"]!.Value.ShouldBe(1.1, 1e-9);
        p99.Ratios["haproxy/direct"]!.Value.ShouldBe(1.2, 1e-9);
        p99.Ratios["proxy/haproxy"]!.Value.ShouldBe(1_100 / 1_200.0, 1e-9);
        // Direct has no proxy: no ratio against it, but the proxy against HAProxy.
        var rss = rows.Single(r => r.Key == "proxy_rss_per_connection");
        rss.Values["direct"].ShouldBeNull();
        rss.Ratios["proxy/direct"].ShouldBeNull();
        rss.Ratios["proxy/haproxy"].ShouldBe(2);
        Report(withBaseline: true).PathComparisons.ShouldBeNull();
    }

    [Fact]
    public void Markdown_OfAProxyRun_HasAColumnPerPathAndPerRatio_AndEachPathsProcesses()
    {
        var markdown = ReportWriter.ToMarkdown(ProxyReport(Run("direct", 1_000, null), Run("proxy", 1_100, 8_000), Run("haproxy", 1_200, 4_000)));

        markdown.ShouldContain("| figure | direct | proxy | haproxy | proxy/direct | haproxy/direct | proxy/haproxy |");
        markdown.ShouldContain("| latency p99 | 1.00 ms | 1.10 ms | 1.20 ms | 1.10× | 1.20× | 0.92× |");
        markdown.ShouldContain("| RSS per connection (proxy processes) | — | 7.8 KB | 3.9 KB | — | — | 2.00× |");
        markdown.ShouldContain("## haproxy: processes");
        markdown.ShouldContain("| haproxy-1 | 7 | 10 |");
        // One path alone: no empty ratio column.
        ReportWriter.ToMarkdown(ProxyReport(Run("proxy", 1_100, 8_000))).ShouldContain("| figure | proxy |\n| --- | ---: |\n");
    }
}
