using Switchboard.Bench.Proxying;
using Switchboard.Bench.Reporting;
using Switchboard.Bench.Tests.EndToEnd;
using Switchboard.Tests.Common;
using Xunit.Abstractions;

namespace Switchboard.Bench.Tests.Proxying;

/// <summary>
/// A small <c>--proxy</c> run against real node, gateway, proxy and HAProxy processes over real sockets: each path's
/// figures must match what the nodes report in their heartbeats and what the proxies count themselves.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class BenchThroughProxiesTests(ITestOutputHelper output)
{
    private const int Clients = 300;

    [Fact]
    public async Task Direct_StraightThroughTheProxyAndThroughHaProxy_ReportsWhatTheNodesAndTheProxiesCounted()
    {
        await using var broker = await RabbitMqBroker.StartOrShareAsync();

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Direct,
            LocalNodes = 2,
            Backplane = broker.Url.ToString(),
            Proxy = true,
            ProxyProcesses = 2,
            ProxySources = ["127.0.2.1", "127.0.2.2"],
            Clients = Clients,
            Rate = 1500,
            Duration = TimeSpan.FromSeconds(2),
            WarmUp = TimeSpan.FromMilliseconds(500),
            Workers = 0,
        }, output.WriteLine).WaitAsync(TimeSpan.FromSeconds(240));

        report.Paths.ShouldNotBeNull().Select(p => p.Target).ShouldBe(ProxyPaths.All);
        report.Switchboard.ShouldBeSameAs(report.Paths[0]);
        var direct = report.Paths[0];
        AssertTrafficMatchesTheNodes(direct);
        direct["proxy_connections_reported"].ShouldBeNull();
        direct.Processes.Select(p => p.Name).ShouldNotContain(n => n.StartsWith("proxy", StringComparison.Ordinal));

        var proxy = report.Paths[1];
        AssertTrafficMatchesTheNodes(proxy);
        AssertTheProxiesCountedEveryClient(proxy, "proxy-");

        var haproxy = report.Paths[2];
        if (HaProxyEntry.Executable() is null)
        {
            output.WriteLine("haproxy is not installed: the HAProxy path did not run; asserting that the report says so.");
            haproxy.Figures.ShouldBeEmpty();
            haproxy.Notes.ShouldContain(n => n.Contains("haproxy is not installed", StringComparison.Ordinal));
        }
        else
        {
            output.WriteLine("haproxy is installed: the HAProxy path ran.");
            AssertTrafficMatchesTheNodes(haproxy);
            AssertTheProxiesCountedEveryClient(haproxy, "haproxy-");
        }

        var p99 = report.PathComparisons.ShouldNotBeNull().Single(c => c.Key == "latency_p99");
        p99.Ratios["proxy/direct"].ShouldBe(proxy["latency_p99"] / direct["latency_p99"]);
        p99.Ratios.Keys.ShouldBe(["proxy/direct", "haproxy/direct", "proxy/haproxy"]);
    }

    [Fact]
    public async Task Interleaved_DirectAndProxy_RunAtOnceOnOneCluster_EachWithItsOwnClientsAndFigures()
    {
        await using var broker = await RabbitMqBroker.StartOrShareAsync();
        const int Rate = 1500;

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Direct,
            LocalNodes = 2,
            Backplane = broker.Url.ToString(),
            Proxy = true,
            ProxyPathNames = [ProxyPaths.Direct, ProxyPaths.Proxy],
            Interleave = true,
            ProxyRelayPriority = 10,
            ProxyRelayThreads = 3,
            ProxyProcesses = 2,
            Clients = Clients,
            Rate = Rate,
            Duration = TimeSpan.FromSeconds(3),
            WarmUp = TimeSpan.FromMilliseconds(500),
        }, output.WriteLine).WaitAsync(TimeSpan.FromSeconds(240));

        var (direct, proxy) = (report.Paths.ShouldNotBeNull()[0], report.Paths[1]);
        (direct.Target, proxy.Target).ShouldBe((ProxyPaths.Direct, ProxyPaths.Proxy));
        // One cluster for both: every client of both paths is on its nodes, and the same processes were sampled.
        direct["connections_reported"].ShouldBe(Clients);
        proxy.Processes.ShouldBe(direct.Processes);
        // Half the clients went through the proxies, and only they: the proxies' own count.
        proxy["proxy_connections_total"].ShouldBe(Clients / 2);
        foreach (var path in new[] { direct, proxy })
        {
            // Each path carried its own half of the rate, and its figures are its own messages.
            path["sent_rate"]!.Value.ShouldBe(Rate / 2.0, Rate * 0.1, path.Target);
            path["sent"]!.Value.ShouldBeGreaterThan(1000, path.Target);
            path["delivered"].ShouldBe(path["sent"], path.Target);
            path["lost"].ShouldBe(0, path.Target);
            path["duplicates"].ShouldBe(0, path.Target);
            path.Notes.ShouldContain(n => n.StartsWith("Interleaved", StringComparison.Ordinal));
        }
        // The proxies were started with the relay priority, and logged no warning but, where this machine refuses the
        // priority, that refusal. The first note is the interleaving's own.
        proxy.Description.ShouldContain("--relay-priority 10, --relay-threads 3");
        proxy.Notes.Skip(1).ShouldAllBe(n => n.Contains("RelayPriorityRefused", StringComparison.Ordinal) || n.Contains("left at normal priority", StringComparison.Ordinal));
        // Each path's failures, errors and closes are its own; none here.
        foreach (var path in new[] { direct, proxy })
        {
            path["connections"].ShouldBe(Clients / 2, path.Target);
            path["senders"].ShouldBe(Clients / 2, path.Target);
            path.ConnectFailures.ShouldBeEmpty();
            path.Errors.ShouldBeEmpty();
            path.Closes.ShouldBeEmpty();
        }
        // The ratio is of the paths' own figures. Two paths' p99s can be equal (histogram buckets), so that is not asserted.
        var p99 = report.PathComparisons.ShouldNotBeNull().Single(c => c.Key == "latency_p99");
        p99.Ratios["proxy/direct"].ShouldBe(proxy["latency_p99"] / direct["latency_p99"]);
    }

    [Fact]
    public async Task Failover_ANodeProcessKilledWithSigkill_UnderFailoverModeProxies_LosesTheClientsNothing()
    {
        await using var broker = await RabbitMqBroker.StartOrShareAsync();

        // The same run straight at the nodes and through a failover-mode proxy, each on its own fresh cluster of node
        // processes: after 2 s the node holding the most clients is killed with SIGKILL.
        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Scenario = BenchScenarios.Failover,
            LocalNodes = 3,
            Backplane = broker.Url.ToString(),
            Proxy = true,
            ProxyMode = "failover",
            ProxyPathNames = [ProxyPaths.Direct, ProxyPaths.Proxy],
            Clients = 90,
            Rate = 450,
            Duration = TimeSpan.FromSeconds(5),
            WarmUp = TimeSpan.FromMilliseconds(500),
            Workers = 0,
        }, output.WriteLine).WaitAsync(TimeSpan.FromSeconds(240));

        var direct = report.Paths.ShouldNotBeNull()[0];
        var proxy = report.Paths[1];
        // Straight at the nodes, the killed node's sessions die with it: every client there reconnects to a new session.
        direct["moved_node"]!.Value.ShouldBeGreaterThan(0);
        direct["not_resumed"].ShouldBe(direct["moved_node"]);
        // Their refused resumes are no refused messages: what the dead node took with it counts as lost, never below 0.
        direct["refused"].ShouldBe(0);
        direct["lost"]!.Value.ShouldBeGreaterThanOrEqualTo(0);

        // Through the proxy, no client sees anything: the proxy carries every session of the killed node on (its standby
        // takes over), nothing is lost or duplicated, and no client is closed or told of an error.
        var killed = proxy["moved_node"]!.Value;
        killed.ShouldBeGreaterThan(0);
        proxy["carried_on"].ShouldBe(killed);
        proxy["moves"].ShouldBe(0);
        proxy["rehome_seconds"].ShouldNotBeNull();
        proxy["sent"]!.Value.ShouldBeGreaterThan(1000);
        proxy["lost"].ShouldBe(0);
        // A send the killed node had published but not yet answered goes to the next node again (commands in flight
        // when a node dies are at least once, docs/proxy.md), with its idempotency key: both copies share one mid, and
        // the receivers' proxies pass on one. So no copy either.
        proxy["duplicates"].ShouldBe(0);
        proxy.Closes.ShouldBeEmpty();
        proxy.Errors.ShouldBeEmpty();
    }

    private static void AssertTrafficMatchesTheNodes(ScenarioResult path)
    {
        path["connections"].ShouldBe(Clients, path.Target);
        path["connections_failed"].ShouldBe(0, path.Target);
        // The nodes' own count, from their heartbeats through the gateway.
        path["connections_reported"].ShouldBe(Clients, path.Target);
        var nodes = path.Processes.Where(p => p.Name.StartsWith("node-", StringComparison.Ordinal)).ToList();
        nodes.Count.ShouldBe(2);
        nodes.Sum(p => p.Connections).ShouldBe(Clients);
        nodes.ShouldAllBe(p => p.Connections > 0);
        path["sent"]!.Value.ShouldBeGreaterThan(1000, path.Target);
        path["delivered"].ShouldBe(path["sent"], path.Target);
        path["lost"].ShouldBe(0, path.Target);
        path["duplicates"].ShouldBe(0, path.Target);
        path["latency_p99"]!.Value.ShouldBeGreaterThan(0);
        path["cpu_per_delivery"]!.Value.ShouldBeGreaterThan(0);
        path.ConnectFailures.ShouldBeEmpty();
        path.Closes.ShouldBeEmpty();
    }

    private static void AssertTheProxiesCountedEveryClient(ScenarioResult path, string prefix)
    {
        // The proxies' own counts: /metrics of ours, the statistics page of HAProxy's frontend.
        path["proxy_connections_reported"].ShouldBe(Clients, path.Target);
        path["proxy_connections_total"].ShouldBe(Clients, path.Target);
        var proxies = path.Processes.Where(p => p.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        proxies.Count.ShouldBe(2);
        // The clients dial the proxies in turn: half each.
        proxies.ShouldAllBe(p => p.Connections == Clients / 2);
        proxies.ShouldAllBe(p => p.RssAfterBytes > 0 && p.CpuCores > 0);
        path["proxy_rss_per_connection"].ShouldNotBeNull();
        // Nothing went wrong on the way: no proxy logged a warning (they would be notes).
        path.Notes.ShouldBeEmpty();
    }
}
