using System.Text.Json;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// <c>switchboard bench</c> as a user runs it: it starts node, gateway, worker and baseline processes itself, measures,
/// writes its reports and stops everything.
/// </summary>
public sealed class BenchCommandTests
{
    [Fact]
    public async Task Bench_OverRabbitMq_WithWorkerProcessesAndTheBaseline_WritesAConsistentReport()
    {
        await using var broker = await RabbitMqBroker.StartOrShareAsync();
        var folder = Directory.CreateTempSubdirectory("bench-cli-test-").FullName;
        try
        {
            var (exit, output) = await CliProcess.RunAsync(
                "bench", "--scenario", "direct", "--cluster", "local:2", "--backplane", broker.Url.ToString(), "--clients", "120", "--workers", "2",
                "--source", "127.0.1.1-127.0.1.2", "--rate", "600", "--duration", "1s", "--warmup", "500ms", "--baseline", "kestrel", "--out", folder);

            exit.ShouldBe(0, output);
            output.ShouldContain("2 node processes (data-plane listener) and a gateway over RabbitMQ");
            var json = Directory.GetFiles(folder, "bench-direct-*.json").ShouldHaveSingleItem();
            Directory.GetFiles(folder, "bench-direct-*.md").ShouldHaveSingleItem();
            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var switchboard = Figures(report.RootElement.GetProperty("switchboard"));
            switchboard["connections"].ShouldBe(120);
            switchboard["connections_reported"].ShouldBe(120);
            switchboard["delivered"].ShouldBe(switchboard["sent"]);
            switchboard["sent"].ShouldBeGreaterThan(0);
            switchboard["lost"].ShouldBe(0);
            switchboard["duplicates"].ShouldBe(0);
            // Two node processes and the gateway, each sampled from /proc; the nodes hold what the gateway spread over them.
            var processes = report.RootElement.GetProperty("switchboard").GetProperty("processes").EnumerateArray().ToList();
            processes.Select(p => p.GetProperty("name").GetString()).Order().ShouldBe(["gateway", "node-1", "node-2"]);
            processes.Single(p => p.GetProperty("name").GetString() == "gateway").GetProperty("connections").GetInt32().ShouldBe(0);
            processes.Sum(p => p.GetProperty("connections").GetInt32()).ShouldBe(120);
            processes.ShouldAllBe(p => p.GetProperty("rssAfterBytes").GetInt64() > 0);
            Figures(report.RootElement.GetProperty("switchboard"))["cpu_bench"].ShouldBeGreaterThan(0);
            var baseline = Figures(report.RootElement.GetProperty("baseline"));
            baseline["connections"].ShouldBe(120);
            baseline["lost"].ShouldBe(0);
            report.RootElement.GetProperty("comparisons").EnumerateArray().ShouldContain(c => c.GetProperty("key").GetString() == "latency_p99" && c.GetProperty("ratio").GetDouble() > 0);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task BenchConnect_WarmsUpInTheWorkerProcesses_AndMeasuresTheBurstFromNone()
    {
        var folder = Directory.CreateTempSubdirectory("bench-cli-test-").FullName;
        try
        {
            var (exit, output) = await CliProcess.RunAsync(
                "bench", "--scenario", "connect", "--cluster", "local:2", "--clients", "150", "--workers", "2", "--warmup", "1s", "--out", folder);

            exit.ShouldBe(0, output);
            output.ShouldContain("warming up for 1 s (connections opened and closed again)");
            var json = Directory.GetFiles(folder, "bench-connect-*.json").ShouldHaveSingleItem();
            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var switchboard = Figures(report.RootElement.GetProperty("switchboard"));
            switchboard["warmup_connections"].ShouldBeGreaterThan(0);
            switchboard["warmup_failed"].ShouldBe(0);
            switchboard["connections"].ShouldBe(150);
            switchboard["connections_reported"].ShouldBe(150, "the warm-up's connections were closed again");
            // Some of the burst's paths are new to the worker processes however long the warm-up: it holds, and they compile.
            switchboard["connect_jit_methods"].ShouldBeGreaterThan(0);
            switchboard["connect_jit_ms"].ShouldBeGreaterThan(0);
            var markdown = await File.ReadAllTextAsync(Directory.GetFiles(folder, "bench-connect-*.md").ShouldHaveSingleItem());
            markdown.ShouldContain("1 s of connections opened and closed again before the measured burst");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("--scenario nope --cluster local:1", "--scenario must be one of idle, connect, direct, fanout")]
    [InlineData("--scenario idle --cluster remote:3", "--cluster must be local:N")]
    [InlineData("--scenario idle --gateway http://127.0.0.1:1 --cluster local:1", "Give exactly one target")]
    [InlineData("--scenario idle --node ws://127.0.0.1:1/v1/ws", "--node needs --secret")]
    [InlineData("--scenario idle --cluster local:1 --duration soon", "--duration must look like")]
    [InlineData("--scenario idle --cluster local:1 --clients-per-worker 25000", "20,000 open files")]
    [InlineData("--scenario idle --cluster local:1 --source 127.0.1.9-127.0.1.2", "--source")]
    [InlineData("--scenario idle --cluster local:1 --backplane redis", "--backplane must be memory, rabbitmq or an amqp:// URL")]
    [InlineData("--scenario idle --cluster local:1 --baseline gateway:X=1", "--baseline must be 'kestrel', 'node:Key=Value' or 'backplane:Key=Value'")]
    [InlineData("--scenario idle --gateway http://127.0.0.1:1 --baseline node:A=1", "needs --cluster local:N")]
    [InlineData("--scenario failover --cluster local:2", "--scenario failover kills a node process")]
    [InlineData("--scenario direct --gateway http://127.0.0.1:1 --proxy", "--proxy starts proxies in front of nodes the bench starts itself: it needs --cluster local:N")]
    [InlineData("--scenario direct --cluster local:2 --proxy", "--proxy needs --backplane rabbitmq")]
    [InlineData("--scenario direct --cluster local:2 --backplane rabbitmq --proxy --baseline kestrel", "--proxy and --baseline each add runs")]
    [InlineData("--scenario direct --cluster local:2 --backplane rabbitmq --proxy --proxy-mode tcp", "--proxy-mode must be tunnel or failover (got 'tcp')")]
    [InlineData("--scenario direct --cluster local:2 --backplane rabbitmq --proxy --proxy-paths direct,nginx", "--proxy-paths takes some of direct, proxy, proxy-kernel, haproxy")]
    [InlineData("--scenario idle --cluster local:4 --backplane rabbitmq --proxy --clients 50000 --proxy-processes 2", "need at least 6 proxy processes")]
    [InlineData("--scenario idle --cluster local:2 --backplane rabbitmq --proxy --proxy-sources 127.0.2.9-127.0.2.1", "--proxy-sources: '127.0.2.9-127.0.2.1' must be a range")]
    [InlineData("--scenario idle --cluster local:2 --backplane rabbitmq --proxy-processes 2", "only go with --proxy")]
    public async Task Bench_WithBadArguments_ExplainsAndExitsWith2(string arguments, string message)
    {
        var (exit, output) = await CliProcess.RunAsync(["bench", .. arguments.Split(' ')]);
        exit.ShouldBe(2, output);
        output.ShouldContain(message);
    }

    private static Dictionary<string, double> Figures(JsonElement result) =>
        result.GetProperty("figures").EnumerateArray()
            .Where(f => f.GetProperty("value").ValueKind == JsonValueKind.Number)
            .ToDictionary(f => f.GetProperty("key").GetString()!, f => f.GetProperty("value").GetDouble());
}
