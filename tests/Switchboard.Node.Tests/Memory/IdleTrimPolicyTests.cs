using Switchboard.Memory;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Memory;

/// <summary>
/// When the idle trim runs: once per settled burst of connections, never while the node is busy or still connecting,
/// never again while it sits idle and unchanged, at most once per minimum interval. One sample a second, as the node takes them.
/// </summary>
public sealed class IdleTrimPolicyTests
{
    private const long Quiet = 40 * 1024;
    private const long Busy = 8 * 1024 * 1024;

    private readonly ManualTimeProvider _time = new();
    private readonly IdleTrimPolicy _policy;
    private long _allocated;
    private int _second;

    public IdleTrimPolicyTests() => _policy = new IdleTrimPolicy(Options().IdleTrimSettings, _time);

    private static NodeOptions Options() => new()
    {
        IdleTrimSettleTime = TimeSpan.FromSeconds(5),
        IdleTrimMinConnectionChange = 1000,
        IdleTrimMaxAllocationRate = 1024 * 1024,
        IdleTrimMinInterval = TimeSpan.FromSeconds(30),
    };

    /// <summary>One second of the node's life: its count and what it allocated in that second. Returns the seconds (from the first sample) at which a trim was due.</summary>
    private List<int> Run(int seconds, Func<int, int> connections, Func<int, long>? allocatedPerSecond = null)
    {
        var trims = new List<int>();
        for (var i = 0; i < seconds; i++, _second++)
        {
            if (_second > 0)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                _allocated += allocatedPerSecond?.Invoke(i) ?? Quiet;
            }
            if (_policy.Observe(connections(i), _allocated))
            {
                trims.Add(_second);
            }
        }
        return trims;
    }

    /// <summary>0 to 15,000 connections in 15 s at 8 MB/s allocated, as a connect storm does.</summary>
    private void ConnectStorm(int from = 0, int to = 15_000) =>
        Run(15, i => from + ((to - from) * (i + 1) / 15), _ => Busy).ShouldBeEmpty("nothing is trimmed while connections pour in");

    [Fact]
    public void BurstThenQuiet_TrimsOnceAfterTheSettleTime()
    {
        Run(1, _ => 0).ShouldBeEmpty();
        ConnectStorm();

        // The storm ended at second 15; the node has been quiet for 5 s at second 20.
        Run(10, _ => 15_000).ShouldBe([20]);
    }

    [Fact]
    public void IdleAndUnchanged_IsNotTrimmedAgain()
    {
        Run(1, _ => 0);
        ConnectStorm();
        Run(10, _ => 15_000).Count.ShouldBe(1);

        Run(600, _ => 15_000).ShouldBeEmpty("ten idle minutes after the trim");
    }

    [Fact]
    public void WhileTheNodeAllocates_ItIsNotTrimmed_UntilItQuietsDown()
    {
        Run(1, _ => 0);
        ConnectStorm();

        Run(60, _ => 15_000, _ => 2 * 1024 * 1024).ShouldBeEmpty("traffic at 2 MB/s: the node collects on its own");
        // Quiet from second 76; at second 78 the average over the last 5 s (two of them still at 2 MB/s) is below 1 MB/s.
        Run(10, _ => 15_000).ShouldBe([78]);
    }

    [Fact]
    public void ASpikeAveragedOverTheSettleTime_DoesNotKeepTheNodeFromSettling()
    {
        Run(1, _ => 0);
        ConnectStorm();

        // A presence snapshot of 15,000 users every 5 s: 3 MB in one second, 0.6 MB/s on average.
        Run(10, _ => 15_000, i => i % 5 == 0 ? 3 * 1024 * 1024 : Quiet).ShouldBe([20]);
    }

    [Fact]
    public void ASmallChange_IsNoBurst()
    {
        Run(1, _ => 0);
        Run(10, i => 99 * (i + 1), _ => Busy);

        Run(120, _ => 990).ShouldBeEmpty("990 connections came: fewer than Node:IdleTrimMinConnectionChange");
    }

    [Fact]
    public void ConnectionsStillArrivingSlowly_DoNotCountAsSettled()
    {
        Run(1, _ => 0);
        ConnectStorm();
        Run(10, _ => 15_000).Count.ShouldBe(1);

        // 30 a second, allocating little: 150 in any 5 s, more than a tenth of the burst size.
        var count = 15_000;
        Run(60, _ => count += 30).ShouldBeEmpty("the count keeps moving");
        // It stops at second 85 (16,800); from second 87 the last 5 s saw fewer than 100 arrive.
        Run(10, _ => count).ShouldBe([87]);
    }

    [Fact]
    public void ConnectionsLeaving_AreABurstToo()
    {
        Run(1, _ => 0);
        ConnectStorm();
        Run(10, _ => 15_000).ShouldBe([20]);
        Run(30, _ => 15_000).ShouldBeEmpty();

        // 10,000 leave in seconds 56 to 65.
        Run(10, i => 15_000 - (1000 * (i + 1)), _ => Busy).ShouldBeEmpty();
        Run(10, _ => 5_000).ShouldBe([70]);
    }

    [Fact]
    public void ASecondBurstSoonAfter_WaitsForTheMinimumInterval()
    {
        Run(1, _ => 0);
        ConnectStorm();
        Run(6, _ => 15_000).ShouldBe([20]);

        // Settled again from second 29; the last trim was at 20, so the next waits until 50.
        Run(3, i => 15_000 + (1000 * (i + 1)), _ => Busy).ShouldBeEmpty();
        Run(30, _ => 18_000).ShouldBe([50]);
    }

    [Fact]
    public void ABurstBeforeTheFirstSample_CountsFromZero_AndIsTrimmedOnce()
    {
        // A process starts with no connections; a burst that lands before the first sample is a burst all the same.
        Run(120, _ => 15_000).ShouldBe([5]);
    }

    [Theory]
    [InlineData("IdleTrimSettleTime")]
    [InlineData("IdleTrimMinConnectionChange")]
    [InlineData("IdleTrimMaxAllocationRate")]
    [InlineData("IdleTrimMinInterval")]
    public void InvalidSettings_AreRefusedAtStart_NamingTheKey(string key)
    {
        var options = new NodeOptions { ClusterSecret = TestCluster.Secret };
        options.Validate();
        switch (key)
        {
            case "IdleTrimSettleTime": options.IdleTrimSettleTime = TimeSpan.Zero; break;
            case "IdleTrimMinConnectionChange": options.IdleTrimMinConnectionChange = 0; break;
            case "IdleTrimMaxAllocationRate": options.IdleTrimMaxAllocationRate = 0; break;
            case "IdleTrimMinInterval": options.IdleTrimMinInterval = TimeSpan.FromSeconds(-1); break;
        }

        Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("Node:" + key);
    }
}
