using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Switchboard.Node;
using Switchboard.Tests.Common;

namespace Switchboard.Bench.Tests.EndToEnd;

/// <summary>
/// Small bench runs against a real cluster over real sockets: what the bench reports must be what the nodes saw,
/// counted by the nodes' own instruments.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class BenchAgainstAClusterTests : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _opened = new();
    private readonly ConcurrentDictionary<string, long> _delivered = new();

    public BenchAgainstAClusterTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == NodeMetrics.MeterName && instrument.Name is "switchboard.node.connections" or "switchboard.node.messages.delivered")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var node = tags.ToArray().Single(t => t.Key == "node").Value as string ?? "";
            if (instrument.Name == "switchboard.node.connections" && value > 0)
            {
                _opened.AddOrUpdate(node, value, (_, n) => n + value);
            }
            else if (instrument.Name == "switchboard.node.messages.delivered")
            {
                _delivered.AddOrUpdate(node, value, (_, n) => n + value);
            }
        });
        _listener.Start();
    }

    [Fact]
    public async Task Direct_ThroughTheGateway_ReportsWhatTheNodesCounted()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 3, o => o.ConfigureNode = n => n.HeartbeatInterval = TimeSpan.FromMilliseconds(200));

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Direct,
            Gateway = cluster.Gateway,
            Clients = 300,
            Rate = 1500,
            Duration = TimeSpan.FromSeconds(2),
            WarmUp = TimeSpan.FromMilliseconds(500),
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(90));

        var result = report.Switchboard;
        result["connections"].ShouldBe(300);
        result["connections_failed"].ShouldBe(0);
        _opened.Values.Sum().ShouldBe(300);
        result["connections_reported"].ShouldBe(300);
        // Every node got clients, and every message crossed to another node.
        _opened.Count.ShouldBe(3);
        result["senders"].ShouldBe(300);
        result["sent"]!.Value.ShouldBeGreaterThan(1000);
        result["delivered"].ShouldBe(result["sent"]);
        result["delivered"].ShouldBe(_delivered.Values.Sum());
        result["lost"].ShouldBe(0);
        result["duplicates"].ShouldBe(0);
        result["latency_p50"]!.Value.ShouldBeGreaterThan(0);
        result["latency_max"]!.Value.ShouldBeGreaterThanOrEqualTo(result["latency_p99"]!.Value);
        // Paced: how late the sends left is reported beside the latency, and no send was later than the run is long.
        result["send_lag_p99"].ShouldNotBeNull();
        result["send_lag_max"]!.Value.ShouldBeGreaterThanOrEqualTo(result["send_lag_p99"]!.Value);
        result["send_lag_max"]!.Value.ShouldBeLessThan(2_000_000);
        // And the latency counted from the due times, which each message's lateness can only lengthen.
        result["latency_due_p50"]!.Value.ShouldBeGreaterThanOrEqualTo(result["latency_p50"]!.Value);
        result["latency_due_p99"]!.Value.ShouldBeGreaterThanOrEqualTo(result["latency_p99"]!.Value);
        result["latency_due_max"]!.Value.ShouldBeGreaterThanOrEqualTo(result["latency_due_p99"]!.Value);
        result.ConnectFailures.ShouldBeEmpty();
        result.Closes.ShouldBeEmpty();
        result.Notes.ShouldBeEmpty();
    }

    [Fact]
    public async Task Direct_OverTheNodesRateLimit_CountsRefusedMessagesAsRefused_NotLost()
    {
        // Each connection may send 20 a second (a burst of 5): the bench offers 100 a second per sender.
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n =>
        {
            n.RateLimitPerSecond = 20;
            n.RateLimitBurst = 5;
        });

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Direct,
            Gateway = cluster.Gateway,
            Clients = 20,
            Rate = 1000,
            Duration = TimeSpan.FromSeconds(2),
            WarmUp = TimeSpan.Zero,
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(90));

        var result = report.Switchboard;
        result["refused"]!.Value.ShouldBeGreaterThan(0);
        result["refused"].ShouldBe(result.Errors.GetValueOrDefault("rate_limited"));
        result["delivered"].ShouldBe(_delivered.Values.Sum());
        result["delivered"].ShouldBe(result["sent"] - result["refused"]);
        result["lost"].ShouldBe(0);
        result.Notes.ShouldBeEmpty();
    }

    [Fact]
    public async Task Direct_FlatOut_HasNoDueTimes_SoNoSendLateness()
    {
        // Flat out, as the bench's documented commands run it: without the nodes' per-connection rate limit.
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n => n.RateLimitPerSecond = 0);

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Direct,
            Gateway = cluster.Gateway,
            Clients = 20,
            Duration = TimeSpan.FromSeconds(1),
            WarmUp = TimeSpan.Zero,
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(90));

        var result = report.Switchboard;
        result["delivered"]!.Value.ShouldBeGreaterThan(0);
        result["lost"].ShouldBe(0);
        result["send_lag_p99"].ShouldBeNull();
        result["latency_due_p99"].ShouldBeNull();
    }

    [Fact]
    public async Task Fanout_ToAGroupSpreadOverNodes_CountsEveryDelivery()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2);

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Fanout,
            Gateway = cluster.Gateway,
            Clients = 200,
            Rate = 20,
            Duration = TimeSpan.FromSeconds(1),
            WarmUp = TimeSpan.Zero,
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(90));

        var result = report.Switchboard;
        result["connections"].ShouldBe(201);
        result["recipients_per_message"].ShouldBe(200);
        var sent = result["sent"]!.Value;
        sent.ShouldBeGreaterThan(0);
        result["delivered"].ShouldBe(sent * 200);
        result["delivered"].ShouldBe(_delivered.Values.Sum());
        result["lost"].ShouldBe(0);
        result["duplicates"].ShouldBe(0);
    }

    [Fact]
    public async Task Idle_StraightAtANode_HoldsTheConnections()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 1);

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Idle,
            Node = cluster.Cluster.Nodes[0].WebSocketUrl,
            Secret = TestCluster.Secret,
            NodeId = "node-1",
            Clients = 250,
            Duration = TimeSpan.FromSeconds(1),
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(60));

        report.Switchboard["connections"].ShouldBe(250);
        report.Switchboard["connections_dropped"].ShouldBe(0);
        _opened.GetValueOrDefault("node-1").ShouldBe(250);
    }

    [Fact]
    public async Task AFullNode_IsReportedAsFailures_ByReason()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o => o.ConfigureNode = n => n.MaxConnections = 50);

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Connect,
            Node = cluster.Cluster.Nodes[0].WebSocketUrl,
            Secret = TestCluster.Secret,
            Clients = 80,
            WarmUp = TimeSpan.Zero,
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(60));

        report.Switchboard["connections"].ShouldBe(50);
        report.Switchboard["connections_failed"].ShouldBe(30);
        report.Switchboard.ConnectFailures.ShouldBe(new Dictionary<string, long> { ["close_1013"] = 30 });
    }

    [Fact]
    public async Task Connect_WarmsUpWithConnectionsItClosesAgain_ThenMeasuresFromNone()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n => n.HeartbeatInterval = TimeSpan.FromMilliseconds(200));

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Connect,
            Gateway = cluster.Gateway,
            Clients = 200,
            WarmUp = TimeSpan.FromSeconds(1),
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(90));

        var result = report.Switchboard;
        var warm = result["warmup_connections"]!.Value;
        warm.ShouldBeGreaterThan(0);
        result["warmup_failed"].ShouldBe(0);
        result["connections"].ShouldBe(200);
        result["connections_failed"].ShouldBe(0);
        result["connections_reported"].ShouldBe(200, "every warm-up connection was closed again before the measured burst");
        // The nodes' own instruments saw the warm-up's connections and the measured ones, each once.
        _opened.Values.Sum().ShouldBe(200 + (long)warm);
        result["connect_rate"]!.Value.ShouldBeGreaterThan(0);
        result["rss_per_connection_bench"].ShouldNotBeNull("the load generator's memory per client is reported");
        result.Notes.ShouldBeEmpty();
    }

    [Fact]
    public async Task Drain_UnderTraffic_MovesEveryClientOfTheBusiestNode_AndLosesNothing()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 3, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.AdminKeys = ["bench-test-admin"];
            };
            // Quick enough for the gateway to see the drain, slow enough that a starved test process does not evict a
            // live node (after 3 silent intervals), which would turn its clients' resumes away.
            o.ConfigureNode = n => n.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        });

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Drain,
            Gateway = cluster.Gateway,
            AdminKey = "bench-test-admin",
            Clients = 150,
            Rate = 300,
            Duration = TimeSpan.FromSeconds(4),
            WarmUp = TimeSpan.Zero,
            Workers = 0,
        }, _ => { }).WaitAsync(TimeSpan.FromSeconds(120));

        var result = report.Switchboard;
        var moved = result["moved_node"]!.Value;
        moved.ShouldBeGreaterThan(0);
        result["moves"].ShouldBe(moved);
        result["resumed"].ShouldBe(moved);
        result["rehome_seconds"].ShouldNotBeNull();
        result["lost"].ShouldBe(0);
        result["duplicates"].ShouldBe(0);
        result["sent"]!.Value.ShouldBeGreaterThan(0);
        result.Notes.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("backplane:Coalescing=false", "backplane", "Coalescing=false")]
    [InlineData("node:RateLimitPerSecond=0", "node", "RateLimitPerSecond=0")]
    [InlineData("kestrel", null, null)]
    [InlineData("gateway:X=1", null, null)]
    [InlineData("node:=1", null, null)]
    public void SettingBaselines_NameASectionAndOneSetting(string baseline, string? section, string? setting) =>
        BenchRunner.SettingBaseline(baseline).ShouldBe((section, setting));

    public void Dispose() => _listener.Dispose();
}
