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
}
