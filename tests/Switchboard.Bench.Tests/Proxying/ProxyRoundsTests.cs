using Switchboard.Bench.Proxying;

namespace Switchboard.Bench.Tests.Proxying;

public sealed class ProxyRoundsTests
{
    private static readonly string[] Paths = [ProxyPaths.Direct, ProxyPaths.Proxy, ProxyPaths.HaProxy];

    [Fact]
    public void Order_OddRoundsTakeTheGivenOrder_EvenRoundsTheReverse()
    {
        ProxyRounds.Order(Paths, 1).ShouldBe(["direct", "proxy", "haproxy"]);
        ProxyRounds.Order(Paths, 2).ShouldBe(["haproxy", "proxy", "direct"]);
        ProxyRounds.Order(Paths, 3).ShouldBe(["direct", "proxy", "haproxy"]);
        ProxyRounds.Order(Paths, 4).ShouldBe(["haproxy", "proxy", "direct"]);
        Should.Throw<ArgumentOutOfRangeException>(() => ProxyRounds.Order(Paths, 0));
    }

    [Fact]
    public void Schedule_RunsEveryPathOncePerRound_Alternating()
    {
        ProxyRounds.Schedule(Paths, 3).ShouldBe(
        [
            (1, "direct"), (1, "proxy"), (1, "haproxy"),
            (2, "haproxy"), (2, "proxy"), (2, "direct"),
            (3, "direct"), (3, "proxy"), (3, "haproxy"),
        ]);
    }

    [Fact]
    public void Schedule_OfOneRound_IsTheGivenOrderOnce()
    {
        ProxyRounds.Schedule([ProxyPaths.Proxy, ProxyPaths.Direct], 1).ShouldBe([(1, "proxy"), (1, "direct")]);
    }
}
