using Switchboard.Bench.Reporting;

namespace Switchboard.Bench.Tests.Reporting;

public sealed class RoundStatisticsTests
{
    [Fact]
    public void Median_OfAnOddCount_IsTheMiddleValue_WhateverTheOrder()
    {
        RoundStatistics.Median([5.0, 1.0, 3.0]).ShouldBe(3.0);
        RoundStatistics.Median([40.0, 10.0, 30.0, 20.0, 1_000.0]).ShouldBe(30.0);
        RoundStatistics.Median([7.5]).ShouldBe(7.5);
    }

    [Fact]
    public void Median_OfAnEvenCount_IsTheMeanOfTheMiddleTwo()
    {
        RoundStatistics.Median([4.0, 1.0]).ShouldBe(2.5);
        RoundStatistics.Median([10.0, 1.0, 3.0, 100.0]).ShouldBe(6.5);
    }

    [Fact]
    public void Median_LeavesMissingValuesOut_AndOfNoneIsNull()
    {
        RoundStatistics.Median([2.0, null, 8.0]).ShouldBe(5.0);
        RoundStatistics.Median([null, null]).ShouldBeNull();
        RoundStatistics.Median([]).ShouldBeNull();
    }

    [Fact]
    public void RatiosPerRound_DivideWithinEachRound()
    {
        var ratios = RoundStatistics.RatiosPerRound([1_500.0, 1_800.0, 8_000.0, 10.0, null], [1_000.0, 2_000.0, 4_000.0, 0.0, 5.0]);

        ratios.Count.ShouldBe(5);
        ratios[0]!.Value.ShouldBe(1.5, 1e-9);
        ratios[1]!.Value.ShouldBe(0.9, 1e-9);
        ratios[2]!.Value.ShouldBe(2.0, 1e-9);
        // Nothing to divide by, or nothing to divide: no ratio.
        ratios[3].ShouldBeNull();
        ratios[4].ShouldBeNull();
        Should.Throw<ArgumentException>(() => RoundStatistics.RatiosPerRound([1.0, 2.0], [1.0]));
    }

    [Fact]
    public void TheMedianOfPerRoundRatios_IsNotTheRatioOfMedians()
    {
        // p99 of direct and proxy over three rounds: one slow round for the proxy.
        double?[] direct = [1_000, 2_000, 4_000];
        double?[] proxy = [1_500, 1_800, 8_000];

        RoundStatistics.Median(RoundStatistics.RatiosPerRound(proxy, direct))!.Value.ShouldBe(1.5, 1e-9);
        (RoundStatistics.Median(proxy) / RoundStatistics.Median(direct))!.Value.ShouldBe(0.9, 1e-9);
    }

    [Fact]
    public void MedianOfPerRoundRatios_OfAnEvenCount_IsTheMeanOfTheMiddleTwoRatios()
    {
        RoundStatistics.Median(RoundStatistics.RatiosPerRound([1_200.0, 3_300.0], [1_000.0, 3_000.0]))!.Value.ShouldBe(1.15, 1e-9);
    }
}
