using Switchboard.Node.DataPlane;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>The word a socket's waits on the reactor share: edges, waits, and who may end which wait.</summary>
public sealed class WaitStateTests
{
    [Fact]
    public void AnEdgeWhileNobodyWaits_IsKeptOnce_ForTheNextTry()
    {
        var state = 0;

        WaitState.Signal(ref state).ShouldBeFalse();
        WaitState.Signal(ref state).ShouldBeFalse();

        WaitState.Phase(state).ShouldBe(WaitState.Ready);
        WaitState.TryConsumeReady(ref state).ShouldBeTrue();
        WaitState.TryConsumeReady(ref state).ShouldBeFalse();
        WaitState.Phase(state).ShouldBe(WaitState.Idle);
    }

    [Fact]
    public void AnEdgeDuringAWait_EndsIt_AndNobodyElseCan()
    {
        var state = 0;
        var waiting = WaitState.NextWait(state);
        Interlocked.CompareExchange(ref state, waiting, 0).ShouldBe(0);

        WaitState.Signal(ref state).ShouldBeTrue();

        WaitState.TryEnd(ref state, waiting).ShouldBeFalse();
        WaitState.TryEndAny(ref state, out _).ShouldBeFalse();
        WaitState.Phase(state).ShouldBe(WaitState.Idle);
    }

    [Fact]
    public void ALateCancellationOfAnEarlierWait_DoesNotEndTheNextOne()
    {
        var state = 0;
        var first = WaitState.NextWait(state);
        state = first;
        WaitState.Signal(ref state).ShouldBeTrue();
        var second = WaitState.NextWait(state);
        Interlocked.CompareExchange(ref state, second, WaitState.Idled(first)).ShouldBe(WaitState.Idled(first));

        // The first wait's cancellation comes only now.
        WaitState.TryEnd(ref state, first).ShouldBeFalse();

        state.ShouldBe(second);
        WaitState.TryEnd(ref state, second).ShouldBeTrue();
    }

    [Fact]
    public void WaitNumbers_WrapAround_AndStayWaits()
    {
        var last = int.MaxValue & ~3;

        var next = WaitState.NextWait(last);

        WaitState.Phase(next).ShouldBe(WaitState.Waiting);
        next.ShouldNotBe(last | WaitState.Waiting);
    }
}
