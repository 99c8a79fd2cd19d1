using Switchboard.Tests.Common;

namespace Switchboard.Bench.Tests;

public sealed class BenchOptionsTests
{
    private static BenchOptions ProxyRun(int rounds) => new()
    {
        Scenario = BenchScenarios.Direct,
        LocalNodes = 2,
        Backplane = "rabbitmq",
        Clients = 50,
        Proxy = true,
        Rounds = rounds,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(20)]
    public void Rounds_From1To20_AreValidWithProxy(int rounds) => ProxyRun(rounds).Validate();

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(21)]
    public void Rounds_OutsideOneTo20_AreRefused_NamingTheFlagAndTheValue(int rounds)
    {
        Should.Throw<ArgumentException>(() => ProxyRun(rounds).Validate()).Message.ShouldBe($"--rounds must be between 1 and 20 (got {rounds}).");
    }

    [Fact]
    public void Rounds_WithoutProxy_AreRefused()
    {
        var options = ProxyRun(3) with { Proxy = false };

        Should.Throw<ArgumentException>(() => options.Validate()).Message.ShouldContain("--rounds only go with --proxy");
        // The default of one round needs no --proxy.
        (options with { Rounds = 1 }).Validate();
    }

    [Theory]
    [InlineData(-21)]
    [InlineData(20)]
    public void ProxyNice_OutsideWhatLinuxTakes_IsRefused(int nice)
    {
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { ProxyNice = nice }).Validate()).Message.ShouldBe($"--proxy-nice must be between -20 and 19 (got {nice}).");
        (ProxyRun(1) with { ProxyNice = -10 }).Validate();
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { Proxy = false, ProxyNice = -10 }).Validate()).Message.ShouldContain("--proxy-nice");
    }

    [Fact]
    public void Interleave_GoesWithProxy_DirectTraffic_TwoPaths_AndWorkerProcesses()
    {
        var interleaved = ProxyRun(3) with { Interleave = true, ProxyPathNames = ["direct", "proxy"] };
        interleaved.Validate();

        Should.Throw<ArgumentException>(() => (interleaved with { Proxy = false, Rounds = 1 }).Validate()).Message.ShouldContain("--interleave");
        Should.Throw<ArgumentException>(() => (interleaved with { Scenario = BenchScenarios.Idle }).Validate()).Message
            .ShouldBe("--interleave splits one run's traffic between the paths: it goes with --scenario direct only (got 'idle').");
        Should.Throw<ArgumentException>(() => (interleaved with { ProxyPathNames = ["proxy"] }).Validate()).Message.ShouldContain("at least two");
        Should.Throw<ArgumentException>(() => (interleaved with { Workers = 0 }).Validate()).Message.ShouldContain("--workers");
        Should.Throw<ArgumentException>(() => (interleaved with { Clients = 3 }).Validate()).Message.ShouldContain("at least 2 per path (4; got 3)");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(100)]
    public void ProxyRelayPriority_OutsideOneTo99_IsRefused_AndOnlyGoesWithProxy(int priority)
    {
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { ProxyRelayPriority = priority }).Validate()).Message
            .ShouldBe($"--proxy-relay-priority must be 0 (the normal scheduler) or a real-time priority from 1 to 99 (got {priority}).");
        (ProxyRun(1) with { ProxyRelayPriority = 10 }).Validate();
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { Proxy = false, ProxyRelayPriority = 10 }).Validate()).Message.ShouldContain("--proxy-relay-priority");
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { ProxyRelayPriority = 10, ProxyMode = "failover" }).Validate()).Message.ShouldContain("failover-mode proxies have no relay thread");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public void ProxyRelayThreads_OutsideOneTo256_IsRefused_AndOnlyGoesWithATunnelProxy(int threads)
    {
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { ProxyRelayThreads = threads }).Validate()).Message
            .ShouldBe($"--proxy-relay-threads must be 0 (the proxy's default) or from 1 to 256 (got {threads}).");
        (ProxyRun(1) with { ProxyRelayThreads = 1 }).Validate();
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { Proxy = false, ProxyRelayThreads = 1 }).Validate()).Message.ShouldContain("--proxy-relay-threads");
        Should.Throw<ArgumentException>(() => (ProxyRun(1) with { ProxyRelayThreads = 1, ProxyMode = "failover" }).Validate()).Message.ShouldContain("failover-mode proxies have no relay threads");
    }

    [Fact]
    public void ProxyNice_StartsTheProgramThroughNice_KeepingItsArguments()
    {
        var info = Switchboard.Bench.Proxying.Niceness.Apply(new System.Diagnostics.ProcessStartInfo("/usr/sbin/haproxy", ["-f", "a b.cfg"]), -10);

        info.FileName.ShouldBe("nice");
        info.ArgumentList.ShouldBe(["-n", "-10", "/usr/sbin/haproxy", "-f", "a b.cfg"]);
        Switchboard.Bench.Proxying.Niceness.Apply(new System.Diagnostics.ProcessStartInfo("x", ["y"]), 0).FileName.ShouldBe("x");
    }

    [Fact]
    public async Task ProxyNice_TheStartedProcessRunsAtThatNiceValue()
    {
        // A positive value, which needs no privilege; the process must still be the program, not nice itself.
        using var process = System.Diagnostics.Process.Start(Switchboard.Bench.Proxying.Niceness.Apply(new System.Diagnostics.ProcessStartInfo("sleep", ["30"]), 7))!;
        try
        {
            string[] Stat()
            {
                var text = File.ReadAllText($"/proc/{process.Id}/stat");
                return [text[(text.IndexOf('(') + 1)..text.LastIndexOf(')')], .. text[(text.LastIndexOf(')') + 2)..].Split(' ')];
            }
            await Eventually.TrueAsync(() => Stat()[0] == "sleep", "nice to have become sleep");
            Stat()[17].ShouldBe("7"); // field 19 of /proc/PID/stat, the nice value
        }
        finally
        {
            process.Kill();
        }
    }

    [Theory]
    [InlineData(BenchScenarios.Connect, 10)]
    [InlineData(BenchScenarios.Idle, 2)]
    [InlineData(BenchScenarios.Direct, 2)]
    [InlineData(BenchScenarios.Fanout, 2)]
    public void TheDefaultWarmUp_IsLongerForConnect_WhoseFreshProcessesOpenOnlyHundredsInTwoSeconds(string scenario, int seconds)
    {
        BenchOptions.DefaultWarmUp(scenario).ShouldBe(TimeSpan.FromSeconds(seconds));
        new BenchOptions { Scenario = scenario }.WarmUp.ShouldBe(TimeSpan.FromSeconds(seconds), "options that set none get the scenario's");
        new BenchOptions { Scenario = scenario, WarmUp = TimeSpan.Zero }.WarmUp.ShouldBe(TimeSpan.Zero, "a warm-up given is kept");
    }
}
